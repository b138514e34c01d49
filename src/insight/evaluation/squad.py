"""SQuAD v1.1 answer scores: exact match and token F1 after the official normalisation (lower case,
punctuation and the articles a/an/the removed, white space collapsed), best over the gold answers."""

from __future__ import annotations

import re
import string

from insight.evaluation.metrics import overlap_f1

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalise_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalise_answer(prediction) == normalise_answer(reference))


def squad_f1(prediction: str, reference: str) -> float:
    return overlap_f1(normalise_answer(prediction).split(), normalise_answer(reference).split())


def article_half(doc_id: str) -> str:
    """``tune`` for a paragraph of an even-numbered article (``"04_012"``: article 4), ``report`` for an odd one:
    the fixed split of SQuAD-layout data into the half settings are fitted on and the half figures are reported on."""
    article = doc_id.split("_", 1)[0]
    if not article.isdigit():
        raise ValueError(f"paragraph id {doc_id!r} does not start with an article number")
    return "tune" if int(article) % 2 == 0 else "report"
