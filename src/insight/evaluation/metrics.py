"""Per-case scores: ranking metrics (ranx, graded), citations against gold documents, token F1 against a
reference answer, reference facts in an analysis, and the reference facts themselves, computed by code."""

from __future__ import annotations

import re
import string
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from insight.analysis import AnalysisResult, extract_numbers
from insight.errors import SuiteInvalid

REL_TOL = 0.01
# ranx's kernels are numba ``parallel=True`` functions: two threads in them at once abort the whole process
# ("Numba workqueue threading layer is terminating: Concurrent access has been detected").
_RANX_LOCK = threading.Lock()


def ranking_scores(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, list[str]], metrics: list[str]
) -> dict[str, dict[str, float]]:
    """``{metric: {query_id: score}}`` for every query in ``qrels``, graded (nDCG uses the grades).

    ``run`` holds each query's ranked document ids, best first (a missing or empty ranking scores 0).
    ``metrics`` use ranx names: ``ndcg@10``, ``recall@5``, ``mrr@10``, ``precision@3``.
    """
    from ranx import Qrels, Run, evaluate

    query_ids = sorted(qrels)
    if not query_ids:
        return {metric: {} for metric in metrics}
    ranked = {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for qid, docs in run.items() if docs}
    with _RANX_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety notes inside ranx
        scores = evaluate(
            Qrels({qid: dict(qrels[qid]) for qid in query_ids}),
            Run({qid: ranked[qid] for qid in query_ids if qid in ranked}),
            metrics,
            return_mean=False,
            make_comparable=True,
        )
    if isinstance(scores, np.ndarray):  # a single metric comes back bare
        scores = {metrics[0]: scores}
    return {metric: dict(zip(query_ids, map(float, scores[metric]), strict=True)) for metric in metrics}


def unique_docs(doc_ids: Iterable[str], limit: int) -> list[str]:
    """Document ids in first-seen order (chunk hits → a document ranking), at most ``limit``."""
    seen: dict[str, None] = {}
    for doc_id in doc_ids:
        seen.setdefault(doc_id, None)
        if len(seen) == limit:
            break
    return list(seen)


def gold_documents(relevant: Mapping[str, int]) -> set[str]:
    """The documents an answer should cite: those with the top grade given (all when grades are equal)."""
    if not relevant:
        return set()
    top = max(relevant.values())
    return {doc for doc, grade in relevant.items() if grade == top}


def citation_scores(cited: Iterable[str], relevant: Mapping[str, int]) -> tuple[float, float]:
    """(precision, recall): cited documents that are relevant at all, and top-grade documents cited.

    An answer that cites nothing scores 0 on both: an uncited answer fails a task that asks for citations.
    """
    cited_set = set(cited)
    if not cited_set:
        return 0.0, 0.0
    gold = gold_documents(relevant)
    precision = len(cited_set & set(relevant)) / len(cited_set)
    recall = len(cited_set & gold) / len(gold) if gold else 0.0
    return precision, recall


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "–—’‘“”")


def _tokens(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (lower case, no punctuation or articles)."""
    return overlap_f1(_tokens(prediction), _tokens(reference))


def overlap_f1(predicted: list[str], expected: list[str]) -> float:
    """F1 of the tokens two texts share (as multisets); 1 when both are empty."""
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


# --- analysis: tables bundled with scikit-learn and facts computed from them ------------------------


def sklearn_table(name: str) -> pd.DataFrame:
    """A dataset bundled with scikit-learn as one frame, its target as a named column (offline)."""
    from sklearn import datasets

    if name == "iris":
        bunch = datasets.load_iris(as_frame=True)
        frame = bunch.data.copy()
        frame["species"] = [str(bunch.target_names[i]) for i in bunch.target]
    elif name == "wine":
        bunch = datasets.load_wine(as_frame=True)
        frame = bunch.data.copy()
        frame["cultivar"] = [str(bunch.target_names[i]) for i in bunch.target]
    elif name == "diabetes":
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)
        frame = bunch.data.copy()
        frame["progression"] = bunch.target
    else:
        raise SuiteInvalid(f"unknown table {name!r}: iris, wine or diabetes")
    return pd.DataFrame(frame)


@dataclass(frozen=True)
class ReferenceFact:
    """A fact an analysis should state: a figure (``value``), or names that should appear together."""

    key: str
    value: float | None = None
    names: tuple[str, ...] = ()


def reference_fact(frame: pd.DataFrame, key: str) -> ReferenceFact:
    """``rows``, ``columns``, ``mean:<col>``, ``min:<col>``, ``max:<col>``, ``strongest_correlation``."""
    if key == "rows":
        return ReferenceFact(key, value=float(len(frame)))
    if key == "columns":
        return ReferenceFact(key, value=float(len(frame.columns)))
    if key == "strongest_correlation":
        numeric = frame.select_dtypes("number")
        corr = numeric.corr().abs().to_numpy(copy=True)
        np.fill_diagonal(corr, -1.0)
        i, j = np.unravel_index(int(np.nanargmax(corr)), corr.shape)
        names = [str(name) for name in numeric.columns]
        return ReferenceFact(key, names=(names[int(i)], names[int(j)]))
    stat, _, column = key.partition(":")
    if stat in ("mean", "min", "max") and column in frame.columns:
        return ReferenceFact(key, value=float(getattr(frame[column], stat)()))
    raise SuiteInvalid(f"unknown reference fact {key!r} (rows, columns, mean|min|max:<column>, strongest_correlation)")


def _normal(text: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", text.lower()).replace("_", " ")
    return " ".join(text.split())


def states(result: AnalysisResult, fact: ReferenceFact) -> bool:
    """Whether the analysis states ``fact``: the figure (to its written precision, or 1 %), or the names in
    one sentence."""
    texts = [result.summary, *result.key_points, *(result.recommendations or [])]
    if fact.value is not None:
        target = fact.value
        return any(
            abs(abs(m.value) - abs(target)) <= max(REL_TOL * abs(target), m.half_unit)
            for text in texts
            for m in extract_numbers(text)
        )
    patterns = [re.compile(rf"(?<!\w){re.escape(_normal(name))}(?!\w)") for name in fact.names]
    return any(all(pattern.search(_normal(text)) for pattern in patterns) for text in texts)


def reference_recall(result: AnalysisResult, facts: list[ReferenceFact]) -> float:
    return sum(states(result, fact) for fact in facts) / len(facts) if facts else 1.0


# --- regression and forecast errors: R², RMSE, MAE, MAPE, directional accuracy ------------------------

REGRESSION_METRICS = ("r2", "rmse", "mae", "mape")


def check_mape_defined(truth: np.ndarray) -> None:
    """MAPE divides by each target: a zero target makes it undefined, so say which rows instead of inf."""
    zero = np.flatnonzero(np.asarray(truth) == 0)
    if zero.size:
        shown = ", ".join(str(int(i)) for i in zero[:5]) + (", …" if zero.size > 5 else "")
        raise SuiteInvalid(
            f"MAPE is undefined: {zero.size} of {np.asarray(truth).size} targets are 0 (rows {shown}); "
            "score this data with mae or rmse instead"
        )


def regression_metric(metric: str, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R², RMSE, MAE or MAPE (a fraction: 0.1 = 10 %) for each row of ``truth``/``predicted`` (shape (B, n)),
    vectorised over B (the bootstrap's resamples). R² is NaN where a row's targets are all equal (undefined;
    scikit-learn reports 0 or 1 there), so such a resample is left out of an interval."""
    truth = np.asarray(truth, dtype=np.float64)
    errors = np.asarray(predicted, dtype=np.float64) - truth
    if metric == "rmse":
        return np.asarray(np.sqrt(np.mean(errors**2, axis=1)), dtype=np.float64)
    if metric == "mae":
        return np.asarray(np.mean(np.abs(errors), axis=1), dtype=np.float64)
    if metric == "mape":
        check_mape_defined(truth)
        return np.asarray(np.mean(np.abs(errors) / np.abs(truth), axis=1), dtype=np.float64)
    if metric == "r2":
        residual = np.sum(errors**2, axis=1)
        total = np.sum((truth - truth.mean(axis=1, keepdims=True)) ** 2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(total > 0, 1.0 - residual / total, np.nan), dtype=np.float64)
    raise SuiteInvalid(f"unknown regression metric {metric!r}: {', '.join(REGRESSION_METRICS)}")


def directional_hits(reference: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Per case: 1.0 when the forecast moves from ``reference`` the way the actual value did, else 0.0;
    NaN (unmeasured: the actual did not move) where ``actual == reference``.

    For a time series ``reference`` is the last observed value (the naive forecast); its mean over
    measured cases is the directional accuracy.
    """
    reference = np.asarray(reference, dtype=np.float64)
    moved = np.sign(np.asarray(actual, dtype=np.float64) - reference)
    predicted = np.sign(np.asarray(forecast, dtype=np.float64) - reference)
    return np.where(moved == 0, np.nan, (moved == predicted).astype(np.float64))


def directional_accuracy(reference: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of cases whose direction of change the forecast got right (cases with no change left out)."""
    hits = directional_hits(reference, actual, forecast)
    measured = hits[~np.isnan(hits)]
    if measured.size == 0:
        raise SuiteInvalid("directional accuracy is undefined: no actual value moved from its reference")
    return float(measured.mean())
