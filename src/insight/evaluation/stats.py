"""Point estimates with 95 % bootstrap intervals, and the gate that compares them with the suite's targets.

Cases are resampled, not repeats: a case's repeats are averaged first. Unmeasured cases are left out
of the estimate and counted beside it; a metric with no measured case has no value and fails its target.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from insight.evaluation.suites import LOWER_IS_BETTER, Target

Statistic = Callable[[np.ndarray], np.ndarray]  # index matrix (B, n) → B values
CONFIDENCE = 0.95


@dataclass(frozen=True)
class MetricSummary:
    name: str
    value: float | None
    low: float | None
    high: float | None
    measured: int
    unmeasured: int
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def unmeasured_rate(self) -> float:
        total = self.measured + self.unmeasured
        return self.unmeasured / total if total else 0.0


@dataclass(frozen=True)
class TargetResult:
    target: Target
    compared: float | None
    passed: bool
    why: str


def mean_of(values: np.ndarray) -> Statistic:
    return lambda idx: values[idx].mean(axis=1)


def percentile_of(values: np.ndarray, q: float) -> Statistic:
    return lambda idx: np.percentile(values[idx], q, axis=1)


def bootstrap(statistic: Statistic, n: int, samples: int, seed: int) -> tuple[float, float, float]:
    """(point, low, high): the statistic on all cases and the 2.5/97.5 percentiles over resamples.

    The one bootstrap of the evaluation runs (case scores, latency percentiles, classifier metrics over
    test rows). It draws the same index resamples as ``scipy.stats.bootstrap(..., method="percentile")``
    with the same generator and gives the same interval (a test checks it), faster (no input checks or
    standard error: ``bench/bootstrap.py``, docs/benchmarks.md); and a resample whose statistic is
    undefined (NaN: ROC AUC of a one-class resample) is left out instead of making the interval NaN.
    """
    point = float(statistic(np.arange(n)[None, :])[0])
    if n < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    draws = statistic(rng.integers(0, n, size=(samples, n)))
    alpha = (1.0 - CONFIDENCE) / 2
    low, high = np.nanquantile(draws, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


def summarize(
    name: str,
    per_case: dict[str, float | None],
    reasons: dict[str, str],
    *,
    samples: int,
    seed: int,
    statistic: Callable[[np.ndarray], Statistic] | None = None,
) -> MetricSummary:
    """One metric over cases: ``per_case`` maps a case id to its score, None when unmeasured (with a reason)."""
    measured = np.array([v for v in per_case.values() if v is not None], dtype=np.float64)
    unmeasured = sum(v is None for v in per_case.values())
    counted = dict(Counter(reasons.get(case_id, "unknown") for case_id, v in per_case.items() if v is None))
    if measured.size == 0:
        return MetricSummary(name, None, None, None, 0, unmeasured, counted)
    make = statistic or mean_of
    value, low, high = bootstrap(make(measured), measured.size, samples, seed)
    return MetricSummary(name, value, low, high, int(measured.size), unmeasured, counted)


def check_target(target: Target, summary: MetricSummary | None, max_unmeasured: float) -> TargetResult:
    if summary is None or summary.value is None:
        return TargetResult(target, None, False, "no case could be measured")
    if summary.unmeasured_rate > max_unmeasured:
        return TargetResult(
            target,
            summary.value,
            False,
            f"{summary.unmeasured} of {summary.measured + summary.unmeasured} cases unmeasured "
            f"(more than {max_unmeasured:.0%})",
        )
    compared: float | None = summary.value
    if target.gate_on == "lower_bound":
        # The pessimistic end of the interval: the lower bound for >=, the upper one for <=.
        compared = summary.low if target.op == ">=" else summary.high
    assert compared is not None
    passed = compared >= target.value if target.op == ">=" else compared <= target.value
    return TargetResult(target, compared, passed, "" if passed else f"{compared:.4g} is not {target.describe()}")


def direction(metric: str) -> str:
    return "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
