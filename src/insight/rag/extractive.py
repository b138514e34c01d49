"""Answer-sentence selection: the retrieved passages split into sentences, each scored against the question.

Features per candidate sentence (each roughly in [0, 1]), combined by a logistic model whose weights live in
``AnswerSettings`` (fitted by ``bench/ask.py --tune`` on a tuning half of SQuAD questions):

- ``lexical``: share of the question's IDF weight (collection IDF) that the sentence's stemmed terms cover;
- ``lexical_relative``: that share over the best candidate's (how this sentence compares with the others);
- ``bigram``: share of the question's adjacent term pairs found adjacent in the sentence;
- ``dense``: cosine of the sentence with the question (optional: embedding sentences costs time);
- ``passage_rank``: 1 / the passage's rank in hybrid search; ``passage_dense``: the passage's own cosine;
- ``position``: 1 / (1 + the sentence's index in its passage);
- ``cue``: the sentence holds what the question type asks for (a number for "how many", a year or date
  for "when", a capitalised name for "who", …);
- ``novel``: share of the sentence's terms that are not in the question (an answer adds something);
- ``window_lexical``: ``lexical`` of the sentence with its neighbours (a question may paraphrase across two);
- ``passage_lexical`` (and ``_relative``): ``lexical`` of the whole passage, and over the best passage's;
- ``passage_score``: the passage's fused search score over the best hit's.

The score of a passage is its best sentence's: sentence selection re-ranks the passages.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from insight.config import AnswerSettings
from insight.rag.lexical import tokenize
from insight.rag.protocols import Embedder, LexicalIndex
from insight.rag.search import SearchHit
from insight.rag.sentences import Sentence, split_sentences

FEATURES = (
    "lexical",
    "lexical_relative",
    "bigram",
    "dense",
    "passage_rank",
    "passage_dense",
    "position",
    "cue",
    "novel",
    "window_lexical",
    "passage_lexical",
    "passage_lexical_relative",
    "passage_score",
)
FloatMatrix = npt.NDArray[np.float64]

_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|half)\b",
    re.IGNORECASE,
)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(
    rf"\b(?:1\d{{3}}|20\d{{2}})s?\b|\b{_MONTH}\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|\bcentury\b", re.IGNORECASE
)
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z\u00c0-\u024f'\-]+")
_QUANTITY_Q = re.compile(
    r"\bhow (?:many|much|long|old|far|large|big|high|tall|often|fast|heavy|wide|deep)\b|\bwhat (?:percent|percentage|"
    r"number|amount|proportion|size|age)\b|\bnumber of\b",
    re.IGNORECASE,
)
_DATE_Q = re.compile(
    r"\bwhen\b|\bwhat (?:year|date|day|month|century|decade|time|period)\b|\bwhich (?:year|century)\b", re.IGNORECASE
)
_NAME_Q = re.compile(
    r"\bwho(?:m|se)?\b|\bwhere\b|\bwhich\b|\bwhat (?:is|was|were|are) (?:the )?names?\b"
    r"|\bwhat (?:\w+ )?(?:city|country|"
    r"team|company|organi[sz]ation|person|group|state|river|language|title|party|university|school|church|empire)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ScoredSentence:
    passage: int
    """Index of the sentence's passage in the hits it was selected from (0 = the best-ranked)."""
    sentence: Sentence
    """Its text and its span within the passage's text."""
    score: float
    features: tuple[float, ...]
    hit: SearchHit
    """The passage itself."""


@dataclass(frozen=True)
class Selection:
    """Every candidate sentence, best first, and the passages re-ranked by their best sentence."""

    sentences: list[ScoredSentence]
    passage_order: list[int]

    @property
    def best_score(self) -> float:
        return self.sentences[0].score if self.sentences else 0.0

    def answer_sentences(self, settings: AnswerSettings) -> list[ScoredSentence]:
        """The best sentence, and the next ones whose score is at least ``second_sentence_ratio`` of its."""
        if not self.sentences:
            return []
        best = self.sentences[0].score
        chosen = [self.sentences[0]]
        for candidate in self.sentences[1:]:
            if len(chosen) >= settings.max_sentences or candidate.score < settings.second_sentence_ratio * best:
                break
            chosen.append(candidate)
        return chosen


def question_cues(question: str) -> tuple[bool, bool, bool]:
    """Whether the question asks for a quantity, a date, a name."""
    return bool(_QUANTITY_Q.search(question)), bool(_DATE_Q.search(question)), bool(_NAME_Q.search(question))


def cue_match(cues: tuple[bool, bool, bool], sentence: str, question_terms: set[str]) -> float:
    quantity, date, name = cues
    if not (quantity or date or name):
        return 0.0
    hits = 0.0
    if quantity and _NUMBER.search(sentence):
        hits = 1.0
    if date and _DATE.search(sentence):
        hits = 1.0
    if name:
        names = {m.group(0).lower() for m in _CAPITALISED.finditer(sentence) if m.start() > 0}
        if any(n not in question_terms for n in names):
            hits = 1.0
    return hits


class SentenceVectors:
    """Unit vectors of sentences, computed once per text (LRU of ``capacity`` sentences); thread-safe."""

    def __init__(self, embedder: Embedder, capacity: int = 50_000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            computed = np.asarray(self.embedder.embed_array(missing), dtype=np.float32)
            with self._lock:
                for text, vector in zip(missing, computed, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        missing_rows = [i for i, row in enumerate(rows) if row is None]
        if missing_rows:  # evicted by a concurrent caller between the two steps: compute again
            again = np.asarray(self.embedder.embed_array([texts[i] for i in missing_rows]), dtype=np.float32)
            for i, vector in zip(missing_rows, again, strict=True):
                rows[i] = vector
        return np.stack([r for r in rows if r is not None]) if rows else np.zeros((0, 1), np.float32)


def idf_weights(terms: Sequence[str], index: LexicalIndex | None, passages: Sequence[str]) -> dict[str, float]:
    """BM25 IDF of each term over the collection's chunks (``index``), or over ``passages`` when there is none."""
    weights: dict[str, float] = {}
    if index is not None and len(index):
        total = len(index)
        for term in dict.fromkeys(terms):
            frequency = int(np.count_nonzero(index.scores([term])))
            weights[term] = math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))
        return weights
    tokenised = [set(tokens) for tokens in tokenize(passages)] if passages else []
    total = max(len(tokenised), 1)
    for term in dict.fromkeys(terms):
        frequency = sum(term in tokens for tokens in tokenised)
        weights[term] = math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))
    return weights


def _bigrams(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(zip(tokens, tokens[1:], strict=False))


_HEADING = re.compile(r"#{1,6}\s")


def candidate_sentences(hits: Sequence[SearchHit], passages: int) -> list[tuple[int, Sentence]]:
    """The sentences of the top passages; a Markdown heading names a section and answers nothing."""
    return [
        (p, s) for p, hit in enumerate(hits[:passages]) for s in split_sentences(hit.text) if not _HEADING.match(s.text)
    ]


def sentence_features(
    question: str,
    hits: Sequence[SearchHit],
    candidates: Sequence[tuple[int, Sentence]],
    index: LexicalIndex | None,
    question_vector: npt.NDArray[np.float32] | None = None,
    sentence_vectors: npt.NDArray[np.float32] | None = None,
) -> FloatMatrix:
    """One row of ``FEATURES`` per candidate sentence."""
    features = np.zeros((len(candidates), len(FEATURES)), dtype=np.float64)
    if not candidates:
        return features
    used = sorted({p for p, _ in candidates})
    tokenised = tokenize([question, *(s.text for _, s in candidates), *(hits[p].text for p in used)])
    question_tokens = tokenised[0]
    sentence_tokens = tokenised[1 : 1 + len(candidates)]
    passage_terms = {p: set(t) for p, t in zip(used, tokenised[1 + len(candidates) :], strict=True)}
    question_terms = set(question_tokens)
    idf = idf_weights(question_tokens, index, [h.text for h in hits])
    total_idf = sum(idf[t] for t in question_terms) or 1.0

    def coverage(terms: set[str]) -> float:
        return sum(idf[t] for t in question_terms & terms) / total_idf

    passage_coverage = {p: coverage(terms) for p, terms in passage_terms.items()}
    best_passage_coverage = max(passage_coverage.values()) or 1.0
    top_score = max((hits[p].score for p in used), default=0.0)
    question_pairs = _bigrams(question_tokens)
    cues = question_cues(question)
    question_words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'\-]+", question)}
    position_in_passage: dict[int, int] = {}
    for row, ((passage, sentence), tokens) in enumerate(zip(candidates, sentence_tokens, strict=True)):
        terms = set(tokens)
        hit = hits[passage]
        position = position_in_passage.get(passage, 0)
        position_in_passage[passage] = position + 1
        features[row, 0] = coverage(terms)
        window = set(terms)
        for neighbour in (row - 1, row + 1):
            if 0 <= neighbour < len(candidates) and candidates[neighbour][0] == passage:
                window |= set(sentence_tokens[neighbour])
        features[row, 9] = coverage(window)
        features[row, 10] = passage_coverage[passage]
        features[row, 11] = passage_coverage[passage] / best_passage_coverage
        features[row, 12] = hit.score / top_score if top_score > 0 else 0.0
        features[row, 2] = len(question_pairs & _bigrams(tokens)) / len(question_pairs) if question_pairs else 0.0
        features[row, 4] = 1.0 / (passage + 1)
        features[row, 5] = hit.dense.score if hit.dense is not None else 0.0
        features[row, 6] = 1.0 / (1.0 + position)
        features[row, 7] = cue_match(cues, sentence.text, question_words)
        features[row, 8] = len(terms - question_terms) / len(terms) if terms else 0.0
    best_lexical = features[:, 0].max()
    if best_lexical > 0:
        features[:, 1] = features[:, 0] / best_lexical
    if question_vector is not None and sentence_vectors is not None and len(sentence_vectors):
        features[:, 3] = sentence_vectors @ question_vector
    return features


def weights_of(settings: AnswerSettings) -> npt.NDArray[np.float64]:
    return np.array([getattr(settings, f"w_{name}") for name in FEATURES], dtype=np.float64)


def scores_of(features: FloatMatrix, settings: AnswerSettings) -> npt.NDArray[np.float64]:
    """The logistic model's probability that each sentence holds the answer."""
    logits = features @ weights_of(settings) + settings.bias
    return 1.0 / (1.0 + np.exp(-logits))


class SentenceSelector:
    """Scores the sentences of the top passages; one per process (held by the ``Answerer``), thread-safe."""

    def __init__(self, settings: AnswerSettings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.vectors = SentenceVectors(embedder) if embedder is not None and settings.sentence_dense else None

    def select(self, question: str, hits: Sequence[SearchHit], index: LexicalIndex | None = None) -> Selection:
        candidates = candidate_sentences(hits, self.settings.passages)
        if not candidates:
            return Selection([], list(range(len(hits))))
        question_vector = sentence_vectors = None
        if self.vectors is not None:
            embedded = self.vectors.vectors([question, *(s.text for _, s in candidates)])
            question_vector, sentence_vectors = embedded[0], embedded[1:]
        features = sentence_features(question, hits, candidates, index, question_vector, sentence_vectors)
        scores = scores_of(features, self.settings)
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i][0], candidates[i][1].start))
        scored = [
            ScoredSentence(
                candidates[i][0],
                candidates[i][1],
                float(scores[i]),
                tuple(features[i].tolist()),
                hits[candidates[i][0]],
            )
            for i in order
        ]
        passage_order = list(dict.fromkeys(s.passage for s in scored))
        passage_order += [p for p in range(len(hits)) if p not in passage_order]
        return Selection(scored, passage_order)
