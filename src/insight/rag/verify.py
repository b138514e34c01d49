"""Verification of a model-written answer against the sentences it cites.

Every number (digits or a number word), year and capitalised name in the answer must appear, normalised
(Unicode NFKC, case, thousands separators, dashes, number words as digits), in at least one cited sentence;
an answer that cites nothing fails, and so does one most of whose words are not in the cited sentences (a light
rephrasing passes, a new statement does not). What fails is reported term by term, so the service can say why it
fell back to the extractive answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90"}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\d+(?:[.,]\d+)*(?:[-\u2013]\d+)?|[^\W_]+(?:['\u2019.-][^\W_]+)*")
# Words written with a capital that are not names when they open an answer or follow a stop.
_COMMON = frozenset(
    "a an the this that these those it its they them their he she his her we our you your i in on at of for by "
    "to from with and or but not no yes as is are was were be been it's there here after before during about "
    "over under between since until also only some all most many more less each every one two three".split()
)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: list[str] = field(default_factory=list)
    """The numbers and names found in the answer."""
    unsupported: list[str] = field(default_factory=list)
    """Those not found in any cited sentence."""
    reason: str | None = None


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"(?<=\d)[,\u00a0\u202f](?=\d{3}\b)", "", text)  # 1,000 -> 1000
    words = [_NUMBER_WORDS.get(w, w) for w in re.findall(r"[^\W_]+(?:[.'-][^\W_]+)*|[^\w\s]", text)]
    return " " + " ".join(words) + " "


def checked_terms(answer: str) -> list[str]:
    """Numbers, number words and capitalised names in ``answer``, in order, without repeats."""
    terms: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFKC", answer)):
        word = match.group(0).rstrip(".")
        lowered = word.lower()
        if _NUMBER.fullmatch(word) or any(ch.isdigit() for ch in word) or lowered in _NUMBER_WORDS:
            terms.append(word)
        elif word[:1].isupper() and lowered not in _COMMON:
            terms.append(word)
    return list(dict.fromkeys(terms))


def verify(answer: str, cited_sentences: Sequence[str], min_word_share: float = 0.5) -> Verification:
    """Whether every number and name of ``answer``, and at least ``min_word_share`` of its other words,
    appear in ``cited_sentences``."""
    if not cited_sentences:
        return Verification(False, reason="the answer cites no sentence")
    if not answer.strip():
        return Verification(False, reason="the answer is empty")
    # hyphenated and dashed compounds count both whole and split ("Paris-London" holds "Paris")
    haystack = "".join(normalise(s) + normalise(re.sub(r"[-\u2010-\u2015]", " ", s)) for s in cited_sentences)
    terms = checked_terms(answer)
    unsupported = [term for term in terms if normalise(term) not in haystack]
    if unsupported:
        return Verification(
            False,
            terms,
            unsupported,
            "not in the cited sentences: " + ", ".join(unsupported),
        )
    words = [w for w in normalise(answer).split() if w.isalnum() and w not in _COMMON]
    if words:
        present = sum(f" {w} " in haystack for w in words)
        if present / len(words) < min_word_share:
            missing = [w for w in words if f" {w} " not in haystack]
            return Verification(
                False, terms, missing, "most words of the answer are not in the cited sentences: " + ", ".join(missing)
            )
    return Verification(True, terms)


def cleaned(answer: str) -> str:
    """A short answer without the wrapping a small model sometimes adds (braces, quotes, a ``key:`` prefix)."""
    text = answer.strip().strip("{}[]`\"' ").strip()
    match = re.fullmatch(r"[A-Za-z_]{1,20}\s*:\s*(.+)", text, flags=re.DOTALL)
    if match:
        text = match.group(1).strip().strip("{}[]`\"' ").strip()
    return text
