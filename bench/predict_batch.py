"""Row-by-row vs vectorised prediction with the served model, in one process.

Measures how long it takes to score 10,000 rows (sampled from scikit-learn's
breast-cancer data and perturbed, fixed seed): the seed template's way — the
scikit-learn pipeline's ``predict`` called once per row — against the service's
way, one vectorised ``Predictor.predict`` call on the whole matrix (best of
``--repeat``, after a warm-up). For reference it also times the service's own
predictor called per row. All must give the same classes; the target is a
speed-up of at least 100x over the seed's loop.

Run from the repository root after ``insight train``::

    .venv/bin/python bench/predict_batch.py [--model-dir var/models/predictor] [--rows 10000]

The last line printed is one JSON object: ``{"rows", "loop_s", "vectorised_s", "speedup",
"loop_served_s", "speedup_vs_served_loop"}`` (``loop_s`` is the seed's loop).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import Pipeline

from insight.errors import InsightError
from insight.predictor.artifact import load_artifact
from insight.predictor.data import FloatMatrix
from insight.predictor.service import Predictor

TARGET_SPEEDUP = 100.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/predictor"))
    parser.add_argument("--rows", type=int, default=10_000, help="rows to score (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="vectorised runs; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_rows(feature_names: list[str], n_rows: int, seed: int) -> FloatMatrix:
    """``n_rows`` dataset rows drawn with replacement, each value scaled by 1 ± ~5 %."""
    bunch = load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    missing = sorted(set(feature_names) - set(names))
    if missing:
        raise SystemExit(f"the model expects features the dataset lacks: {missing}")
    data = np.asarray(bunch.data, dtype=np.float64)[:, [names.index(n) for n in feature_names]]
    rng = np.random.default_rng(seed)
    picked = data[rng.integers(0, len(data), size=n_rows)]
    noise = rng.normal(1.0, 0.05, size=picked.shape).clip(0.8, 1.2)
    return np.ascontiguousarray(picked * noise)


def time_seed_loop(pipeline: Pipeline, matrix: FloatMatrix) -> tuple[float, np.ndarray]:
    """The seed template: the scikit-learn model's ``predict`` on one row at a time."""
    classes = np.empty(len(matrix), dtype=np.int64)
    start = time.perf_counter()
    for i, row in enumerate(matrix):
        classes[i] = pipeline.predict(row.reshape(1, -1))[0]
    return time.perf_counter() - start, classes


def time_loop(predictor: Predictor, matrix: FloatMatrix) -> tuple[float, np.ndarray]:
    classes = np.empty(len(matrix), dtype=np.int64)
    start = time.perf_counter()
    for i, row in enumerate(matrix):
        classes[i] = predictor.predict(row.reshape(1, -1)).classes[0]
    return time.perf_counter() - start, classes


def time_vectorised(predictor: Predictor, matrix: FloatMatrix, repeat: int) -> tuple[float, np.ndarray]:
    best = float("inf")
    classes = np.empty(0, dtype=np.int64)
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        classes = predictor.predict(matrix).classes
        best = min(best, time.perf_counter() - start)
    return best, classes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        predictor = Predictor.load(args.model_dir)
        pipeline, _ = load_artifact(args.model_dir)
    except InsightError as exc:
        print(f"cannot load the model from {args.model_dir}: {exc.message}", file=sys.stderr)
        print("train one first: `insight train` (or pass --model-dir)", file=sys.stderr)
        return 2
    matrix = build_rows(predictor.feature_names, args.rows, args.seed)

    # Warm-up: first calls pay for imports, caches and page faults.
    for row in matrix[:50]:
        predictor.predict(row.reshape(1, -1))
    predictor.predict(matrix)

    seed_s, seed_classes = time_seed_loop(pipeline, matrix)
    loop_s, loop_classes = time_loop(predictor, matrix)
    vec_s, vec_classes = time_vectorised(predictor, matrix, args.repeat)
    speedup = seed_s / vec_s
    same = bool(np.array_equal(loop_classes, vec_classes) and np.array_equal(seed_classes, vec_classes))

    meta = predictor.metadata
    print(f"model {meta.name} v{meta.version} ({meta.estimator}), {len(matrix):,} rows x {matrix.shape[1]}")
    print(f"{'method':<24}{'total':>12}{'per row':>14}")
    print(f"{'row by row (seed)':<24}{seed_s:>11.3f}s{seed_s / len(matrix) * 1e6:>11.1f} us")
    print(f"{'row by row (served)':<24}{loop_s:>11.3f}s{loop_s / len(matrix) * 1e6:>11.1f} us")
    print(f"{f'vectorised (best of {args.repeat})':<24}{vec_s:>11.4f}s{vec_s / len(matrix) * 1e6:>11.2f} us")
    verdict = "met" if speedup >= TARGET_SPEEDUP else "MISSED"
    print(f"speed-up over the seed's loop {speedup:,.0f}x (target >= {TARGET_SPEEDUP:.0f}x: {verdict})")
    print(f"speed-up over the served predictor's own loop {loop_s / vec_s:,.0f}x")
    print(f"identical classes: {'yes' if same else 'NO'}")
    print(
        json.dumps(
            {
                "rows": len(matrix),
                "loop_s": round(seed_s, 6),
                "vectorised_s": round(vec_s, 6),
                "speedup": round(speedup, 1),
                "loop_served_s": round(loop_s, 6),
                "speedup_vs_served_loop": round(loop_s / vec_s, 1),
            }
        ),
        flush=True,
    )
    if not same:
        print("row-by-row and vectorised classes differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
