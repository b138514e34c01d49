"""A model's short answer snapped to the span of the offered sentences it matches best.

A small model asked to copy the phrase that answers often rephrases it a little, adds a word, drops an
article, or copies it from another sentence than the one it named. Rather than trusting its text, the
service looks for the contiguous run of words in the offered sentences with the highest token F1 against it
(case, punctuation and the articles a/an/the ignored) and answers with that run, verbatim. The answer is then
a quote by construction: its every number and name is in the cited sentence, and its span in the document is
exact. A phrase that matches no run well enough (``min_f1``) is not snapped: the caller falls back to the
extractive answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:[.,'\u2019-][^\W_]+)*")
_ARTICLES = frozenset({"a", "an", "the"})
MAX_EXTRA_WORDS = 6
"""A span is at most this many words longer than the phrase (longer ones cannot score higher)."""


@dataclass(frozen=True)
class Span:
    sentence: int
    """Index of the sentence in the sequence searched."""
    start: int
    end: int
    """Character span in that sentence: ``text == sentences[sentence][start:end]``."""
    text: str
    f1: float


def _key(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), _key(m.group(0))) for m in _WORD.finditer(text)]


def snap(
    phrase: str, sentences: Sequence[str], preferred: int | None = None, required: Collection[str] = ()
) -> Span | None:
    """The run of words of ``sentences`` with the highest token F1 against ``phrase``; ties go to the
    ``preferred`` sentence (the one the model named), then to the shorter run, then to the earlier one.
    Words of ``required`` (the phrase's numbers and names) that a sentence holds must all be in its run.
    None when the phrase has no word or nothing overlaps."""
    target = Counter(w for _, _, w in _words(phrase) if w not in _ARTICLES)
    if not target:
        return None
    size = sum(target.values())
    wanted = {_key(word) for word in required}
    best: tuple[tuple[float, bool, int, int], Span] | None = None
    for index, sentence in enumerate(sentences):
        words = _words(sentence)
        must = wanted & {w for _, _, w in words}
        for first in range(len(words)):
            if words[first][2] in _ARTICLES:  # a run never starts with an article: it would only lengthen it
                continue
            seen: Counter[str] = Counter()
            overlap = counted = 0
            for last in range(first, min(len(words), first + size + MAX_EXTRA_WORDS)):
                word = words[last][2]
                if word in _ARTICLES:
                    continue
                counted += 1
                if seen[word] < target[word]:
                    overlap += 1
                seen[word] += 1
                if not overlap or any(seen[w] == 0 for w in must):
                    continue
                f1 = 2 * overlap / (counted + size)
                rank = (round(f1, 9), index == preferred, -(last - first), -index)
                if best is None or rank > best[0]:
                    start, end = words[first][0], words[last][1]
                    best = (rank, Span(index, start, end, sentence[start:end], f1))
    return best[1] if best is not None else None
