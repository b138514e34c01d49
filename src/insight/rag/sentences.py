"""Sentences of a passage with their exact character spans (``text[start:end] == sentence``).

Rule-based and fast (a regular expression and a short abbreviation list): a sentence ends at ``.``,
``!`` or ``?`` (with any closing quotes or brackets) followed by white space and a capital letter, digit
or opening quote, unless the word before the stop is a known abbreviation or a single capital letter
(an initial); a line break before a list item or a blank line always ends one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt no vs etc e.g i.e cf fig al approx dept est inc ltd co corp gen col lt sgt "
    "capt rev gov sen rep jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m".split()
)
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_HARD_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` in order, stripped, each with its span in ``text``."""
    cuts = {0, len(text)}
    for match in _HARD_BREAK.finditer(text):
        cuts.add(match.end())
    for match in _END.finditer(text):
        if match.group(0).startswith(".") and _is_abbreviation(text, match.start()):
            continue
        cuts.add(match.end())
    bounds = sorted(cuts)
    sentences = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = text[start:end]
        stripped = piece.strip()
        if not stripped:
            continue
        offset = start + (len(piece) - len(piece.lstrip()))
        sentences.append(Sentence(stripped, offset, offset + len(stripped)))
    return sentences


def _is_abbreviation(text: str, stop: int) -> bool:
    """Whether the full stop at ``stop`` ends an abbreviation or an initial rather than a sentence."""
    match = _WORD_BEFORE.search(text, max(0, stop - 12), stop)
    if match is None:
        return False
    word = match.group(1)
    if len(word) == 1 and word.isupper():
        return True
    return word.lower().rstrip(".") in _ABBREVIATIONS
