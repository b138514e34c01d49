"""The evaluation bootstrap: ``insight.evaluation.stats.bootstrap`` against ``scipy.stats.bootstrap``.

Both resample case indices with the same generator call (``rng.integers(0, n, (samples, n))``) and take
the percentile interval, so with one seed they give the same interval; this times them on the shapes an
evaluation run has: the mean of per-case scores, a latency percentile, and ROC AUC over the predictor's
test split (114 rows). Median of ``--repeat`` calls of each, alternating, after a warm-up, in one process.

Run from the repository root::

    .venv/bin/python bench/bootstrap.py [--samples 2000] [--repeat 30]

The last line printed is one JSON object: per case, ``own_ms``, ``scipy_ms`` and ``same`` (equal intervals).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from scipy import stats as scipy_stats

from insight.evaluation.runner import classifier_metric
from insight.evaluation.stats import CONFIDENCE, Statistic, bootstrap, mean_of, percentile_of


def scipy_interval(statistic: Statistic, n: int, samples: int, seed: int) -> tuple[float, float, float]:
    """The same interval by ``scipy.stats.bootstrap`` (percentile method, the statistic on index resamples)."""
    point = float(statistic(np.arange(n)[None, :])[0])
    result = scipy_stats.bootstrap(
        (np.arange(n),),
        lambda idx, axis: statistic(idx),
        n_resamples=samples,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def interleaved_ms(first: Callable[[], object], second: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median milliseconds of each, called alternately (a busy machine slows both alike), after a warm-up."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, into in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            call()
            into.append(time.perf_counter() - started)
    return round(float(np.median(times[0])) * 1000, 3), round(float(np.median(times[1])) * 1000, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="resamples (the settings' default: 2000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls of each; the median counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    scores = rng.uniform(size=200)
    latencies = rng.lognormal(0.0, 0.5, size=200)
    truth = rng.integers(0, 2, size=114)
    proba = np.clip(truth * 0.3 + rng.uniform(size=114) * 0.7, 0, 1)  # overlapping classes: AUC ~0.85
    cases: dict[str, tuple[Statistic, int]] = {
        "mean, 200 cases": (mean_of(scores), scores.size),
        "p95 latency, 200 cases": (percentile_of(latencies, 95.0), latencies.size),
        "roc_auc, 114 rows": (lambda idx: classifier_metric("roc_auc", truth[idx], proba[idx]), truth.size),
    }
    report = {}
    for name, (statistic, n) in cases.items():
        own = bootstrap(statistic, n, args.samples, args.seed)
        other = scipy_interval(statistic, n, args.samples, args.seed)
        own_ms, scipy_ms = interleaved_ms(
            lambda s=statistic, n=n: bootstrap(s, n, args.samples, args.seed),
            lambda s=statistic, n=n: scipy_interval(s, n, args.samples, args.seed),
            args.repeat,
        )
        report[name] = {
            "own_ms": own_ms,
            "scipy_ms": scipy_ms,
            "same": bool(np.allclose(own, other)),
            "interval": [round(v, 4) for v in own],
        }
        print(
            f"{name:>24}: own {report[name]['own_ms']:8.3f} ms  scipy {report[name]['scipy_ms']:8.3f} ms  "
            f"same interval: {report[name]['same']}"
        )
    print(json.dumps({"samples": args.samples, "cases": report}))


if __name__ == "__main__":
    main()
