"""Insight engine benchmark: planted-pattern recall/precision per type, false discoveries on noise, latency.

1. Planted patterns (``insight.evaluation.planted``: the patterns, sizes, distractors and the related-type
   table are documented there): ``--per-type`` tables for each of the 12 insight types and ``--null``
   tables of pure noise, seeded (``--seed``, by default not the CI suite's seed 13), run through the engine
   with every significant insight kept; per type recall and precision, the share of null tables with any
   insight, and the share of insights on planted tables that name distractor columns only.
2. Latency of ``InsightEngine.run`` with the service's default settings on realistic mixed tables (a date,
   categories, numeric measures with a trend, a correlation and a group difference among noise): the p50
   of ``--small-runs`` runs on 1,000 rows × 10 columns, and of ``--large-runs`` runs on 100,000 rows × 50
   columns, after one warm-up each. The 1-minute load average is recorded before and after: the targets
   are for a quiet machine.

    .venv/bin/python bench/insights.py                       # 30 per type + 200 null tables, latency
    .venv/bin/python bench/insights.py --per-type 10 --null 40 --skip-latency

The last line printed is one JSON object with every figure, the issue's ``targets`` and a ``met`` flag each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from typing import Any

import numpy as np
import pandas as pd

from insight.analysis.insights.engine import EngineSettings, InsightEngine
from insight.evaluation.planted import (
    EVAL_TOP_K,
    PLANTED_TYPES,
    PlantedTable,
    TableScore,
    generate_suite,
    per_type_table,
    score_report,
)

TARGET_RECALL = 0.95
TARGET_PRECISION = 0.95
TARGET_NULL_RATE = 0.05
TARGET_SMALL_P50_MS = 300.0
TARGET_LARGE_P50_MS = 3000.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--per-type", type=int, default=30, help="planted tables per insight type")
    parser.add_argument("--null", type=int, default=200, help="null (pure noise) tables")
    parser.add_argument("--min-rows", type=int, default=200)
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--small-runs", type=int, default=20)
    parser.add_argument("--large-runs", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-planted", action="store_true")
    parser.add_argument(
        "--misses", type=int, default=3, help="examples of misses and false positives per type to print"
    )
    return parser.parse_args(argv)


def planted(args: argparse.Namespace) -> dict[str, Any]:
    tables = generate_suite(args.seed, args.per_type, args.null, PLANTED_TYPES, (args.min_rows, args.max_rows))
    engine = InsightEngine(EngineSettings(top_k=EVAL_TOP_K))
    scores: list[TableScore] = []
    errors: dict[str, str] = {}
    examples: dict[str, list[str]] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    for table in tables:
        try:
            report = engine.run(table.frame)
        except Exception as exc:  # a type module that raises is counted (as a miss), not fatal to the bench
            errors[table.id] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
            scores.append(
                TableScore(table.id, table.truth.type, None if table.truth.type is None else False, None, (), 0.0)
            )
            continue
        score = score_report(table, report)
        scores.append(score)
        _examples(table, score, report.insights, examples, args.misses)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    for line in sorted(examples):
        for example in examples[line]:
            print(f"{line}: {example}", file=sys.stderr)
    per_type = per_type_table(scores)
    for row in per_type.values():
        row["met"] = (row["recall"] or 0.0) >= TARGET_RECALL and (row["precision"] or 0.0) >= TARGET_PRECISION
    on_planted = [i for s in scores if s.planted for i in s.insights]
    nulls = [s for s in scores if s.planted is None]
    reported = [i for s in scores for i in s.insights]
    found = [s for s in scores if s.planted]
    return {
        "seed": args.seed,
        "tables_per_type": args.per_type,
        "null_tables": args.null,
        "rows": [args.min_rows, args.max_rows],
        "per_type": per_type,
        "recall": round(sum(bool(s.found) for s in found) / len(found), 4) if found else None,
        "precision": round(sum(i.matched for i in reported) / len(reported), 4) if reported else None,
        "null_rate": round(sum(bool(s.insights) for s in nulls) / len(nulls), 4) if nulls else None,
        "distractor_share": round(sum(i.distractor for i in on_planted) / len(on_planted), 4) if on_planted else None,
        "engine_errors": len(errors),
        "errors": dict(list(errors.items())[:5]),
        "tables_per_s": round(len(tables) / seconds, 2),
        "cpu_ms_per_table": round(1000.0 * cpu_seconds / len(tables), 1),
    }


def _examples(table: PlantedTable, score: TableScore, insights: list[Any], out: dict[str, list[str]], cap: int) -> None:
    truth = table.truth
    if truth.type is not None and not score.found:
        line = out.setdefault(f"miss {truth.type}", [])
        if len(line) < cap:
            got = ", ".join(f"{i.type}{i.columns}" for i in insights[:4]) or "nothing"
            line.append(f"{table.id} planted on {list(truth.columns)} size {truth.size:.3g}; reported {got}")
    for scored, item in zip(score.insights, insights, strict=True):
        if not scored.matched:
            line = out.setdefault(f"false positive {item.type}", [])
            if len(line) < cap:
                line.append(f"{table.id} ({truth.type or 'null'} on {list(truth.columns)}): {item.statement[:140]}")


def mixed_table(rows: int, columns: int, seed: int) -> pd.DataFrame:
    """A date, categories (a tenth of the columns, 3–12 levels), and numeric measures: one trend, one
    correlated pair, one group difference, the rest noise."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2019-01-01")
    dates = start + np.sort(rng.integers(0, 3 * 365, rows)).astype("timedelta64[D]")
    position = (dates - start).astype("float64") / (3 * 365)
    data: dict[str, Any] = {"order_date": dates}
    categories = max(2, columns // 10)
    for c in range(categories):
        levels = [f"c{c}_{level}" for level in range(int(rng.integers(3, 13)))]
        data[f"category_{c}"] = rng.choice(levels, rows)
    measures = columns - 1 - categories
    base = rng.normal(0.0, 1.0, rows)
    group_shift = (pd.Series(data["category_0"]).str.len().to_numpy() % 3).astype("float64")
    for m in range(measures):
        noise = rng.normal(100.0, 15.0, rows)
        if m == 0:
            noise = noise * (1 + 0.5 * position)
        elif m in (1, 2):
            noise = 100.0 + 15.0 * (0.8 * base + 0.6 * rng.normal(0.0, 1.0, rows))
        elif m == 3:
            noise = noise + 15.0 * group_shift
        data[f"measure_{m}"] = np.round(noise, 2)
    return pd.DataFrame(data)


def latency(rows: int, columns: int, runs: int, seed: int) -> dict[str, Any]:
    frame = mixed_table(rows, columns, seed)
    engine = InsightEngine(EngineSettings())
    engine.run(frame)  # warm-up: imports, caches
    times, engine_ms, exhausted, significant = [], [], 0, []
    for _ in range(runs):
        started = time.perf_counter()
        report = engine.run(frame)
        times.append((time.perf_counter() - started) * 1000.0)
        engine_ms.append(report.engine_ms)
        exhausted += report.budget_exhausted
        significant.append(report.significant)
    return {
        "rows": rows,
        "columns": columns,
        "runs": runs,
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "engine_ms_p50": round(statistics.median(engine_ms), 1),
        "budget_exhausted_runs": exhausted,
        "significant": significant[-1],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {"engine_types": sorted(InsightEngine().finders)}
    if not args.skip_planted:
        result["planted"] = planted(args)
    if not args.skip_latency:
        result["latency_small"] = latency(1_000, 10, args.small_runs, args.seed)
        result["latency_large"] = latency(100_000, 50, args.large_runs, args.seed)
    result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    result["targets"] = {
        "recall_every_type": f">= {TARGET_RECALL}",
        "precision_every_type": f">= {TARGET_PRECISION}",
        "null_rate": f"<= {TARGET_NULL_RATE}",
        "p50_ms_1000x10": f"<= {TARGET_SMALL_P50_MS:g} (quiet machine)",
        "p50_ms_100000x50": f"<= {TARGET_LARGE_P50_MS:g} (quiet machine)",
    }
    met: dict[str, bool | None] = dict.fromkeys(result["targets"])
    if "planted" in result:
        rows = result["planted"]["per_type"].values()
        met["recall_every_type"] = all((r["recall"] or 0.0) >= TARGET_RECALL for r in rows)
        met["precision_every_type"] = all((r["precision"] or 0.0) >= TARGET_PRECISION for r in rows)
        null_rate = result["planted"]["null_rate"]
        met["null_rate"] = null_rate is not None and null_rate <= TARGET_NULL_RATE
    if "latency_small" in result:
        met["p50_ms_1000x10"] = result["latency_small"]["p50_ms"] <= TARGET_SMALL_P50_MS
        met["p50_ms_100000x50"] = result["latency_large"]["p50_ms"] <= TARGET_LARGE_P50_MS
    result["met"] = met
    print(json.dumps(result))


if __name__ == "__main__":
    main()
