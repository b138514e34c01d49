"""DABench dev questions answered by typed plans, scored with the benchmark's closed-form rule.

Modes:

- ``--reference``: the hand-written plans of ``eval/table_questions/reference_plans.yaml`` (a fixed, seeded
  sample of 50 questions) are checked and executed: how much of the benchmark the plan LANGUAGE covers.
- default (planner): the configured model writes each plan (``analysis.plan.planner``), then the same
  check, execution and scoring. ``--limit N`` takes the first N questions of the seeded order (the
  reference sample is its first 50), so a bounded run is still a fixed, stated sample.
- ``--planner rules``: the deterministic skeleton planner only (no model).
- ``--paraphrase names|columns`` (with ``--planner rules``): each question the rules answer right is asked
  again reworded (``names``: every ``@name``'s words swapped for a synonym, mean ↔ average, std →
  standard_deviation, max ↔ maximum, count ↔ number, …; ``columns``: column mentions lower-cased with
  spaces for underscores) and scored under the original names: how far the rules follow a rewording.

The last line printed is one JSON object: accuracy overall / by level / by concept, the share refused as
unsupported, plan validity (valid, executable plans among the questions not refused), execution p50 (ms),
p50 time per question (planner modes), and ``withdrawn_plans``: rule plans that did not fit or run on their
table and were answered as refusals (counted in the refused share, not in plan validity).

    .venv/bin/python bench/table_questions.py --data /work/shared/benchdata/dabench --reference
    .venv/bin/python bench/table_questions.py --data /work/shared/benchdata/dabench --planner rules    # tuning half
    .venv/bin/python bench/table_questions.py --data /work/shared/benchdata/dabench --planner rules --half held_out

``--half`` defaults to ``tune``: the held-out half is for reporting and is run only when asked for by name.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from insight.analysis.parsing import DataLimits, parse_file
from insight.analysis.plan.executor import execute
from insight.analysis.plan.language import TablePlan
from insight.analysis.plan.scoring import question_correct
from insight.analysis.plan.validation import check_plan, table_kinds
from insight.config import get_settings
from insight.errors import PlanExecutionError, PlanRejected

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "eval" / "table_questions" / "reference_plans.yaml"
LIMITS = DataLimits(max_rows=2_000_000, max_bytes=500 * 1024 * 1024, max_columns=2_000)


def seeded_order(questions: list[dict[str, Any]], tables: Path) -> list[dict[str, Any]]:
    """The questions whose table is present, sorted by sha256("table-questions:<id>")."""
    available = [q for q in questions if (tables / q["file_name"]).is_file()]
    return sorted(available, key=lambda q: hashlib.sha256(f"table-questions:{q['id']}".encode()).hexdigest())


def load(data: Path) -> tuple[list[dict[str, Any]], dict[int, list[list[str]]]]:
    questions = [json.loads(line) for line in (data / "da-dev-questions.jsonl").read_text().splitlines() if line]
    labels = {
        int(row["id"]): row["common_answers"]
        for row in (json.loads(line) for line in (data / "da-dev-labels.jsonl").read_text().splitlines() if line)
    }
    return questions, labels


class Tables:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cache: dict[str, Any] = {}

    def frame(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = parse_file(name, (self.folder / name).read_bytes(), limits=LIMITS).frame
        return self.cache[name]


def summarise(rows: list[dict[str, Any]], mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    def accuracy(subset: list[dict[str, Any]]) -> float:
        return round(sum(r["correct"] for r in subset) / len(subset), 3) if subset else 0.0

    by_level: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_concept: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_level[row["level"]].append(row)
        for concept in row["concepts"]:
            by_concept[concept].append(row)
    attempted = [r for r in rows if not r["refused"]]
    easy_medium = by_level.get("easy", []) + by_level.get("medium", [])
    exec_ms = [r["execution_ms"] for r in rows if r.get("execution_ms") is not None]
    return {
        "bench": "table_questions",
        "mode": mode,
        "questions": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "accuracy": accuracy(rows),
        "accuracy_easy_medium": accuracy(easy_medium),
        "by_level": {k: {"n": len(v), "accuracy": accuracy(v)} for k, v in sorted(by_level.items())},
        "by_concept": {k: {"n": len(v), "accuracy": accuracy(v)} for k, v in sorted(by_concept.items())},
        "refused_share": round(sum(r["refused"] for r in rows) / len(rows), 3) if rows else 0.0,
        "plan_validity": round(sum(r["valid"] for r in attempted) / len(attempted), 3) if attempted else 0.0,
        "execution_p50_ms": round(statistics.median(exec_ms), 2) if exec_ms else None,
        **extra,
    }


def run_reference(data: Path, questions: list[dict[str, Any]], labels: dict[int, list[list[str]]]) -> dict[str, Any]:
    reference = yaml.safe_load(REFERENCE.read_text())
    plans = {int(k): v for k, v in reference["plans"].items()}
    sample = seeded_order(questions, data / "tables")[:50]
    if {q["id"] for q in sample} != set(plans):
        raise SystemExit("reference_plans.yaml does not hold exactly the seeded sample of 50 questions")
    tables = Tables(data / "tables")
    settings = get_settings().table_plan
    rows = []
    for q in sample:
        plan = TablePlan.model_validate(plans[q["id"]])
        row: dict[str, Any] = {"id": q["id"], "level": q["level"], "concepts": q["concepts"]}
        row.update(refused=not plan.supported, valid=False, correct=False, execution_ms=None)
        if plan.supported:
            frame = tables.frame(q["file_name"])
            try:
                checked = check_plan(plan, table_kinds(frame))
                execute(checked, frame, settings)  # warm-up: the first call imports scipy's routines
                result = execute(checked, frame, settings)
            except (PlanRejected, PlanExecutionError) as exc:
                row["error"] = exc.message
            else:
                answers = result.formatted()
                row.update(valid=True, execution_ms=result.execution_ms, answers=answers)
                row["correct"] = question_correct(answers, labels[q["id"]])
        rows.append(row)
    wrong = [{"id": r["id"], "answers": r.get("answers"), "error": r.get("error")} for r in rows if not r["correct"]]
    for item in wrong:
        print(json.dumps({**item, "labels": labels[item["id"]]}), file=sys.stderr)
    return summarise(rows, "reference", {"wrong_ids": [w["id"] for w in wrong]})


def run_planner(
    data: Path, questions: list[dict[str, Any]], labels: dict[int, list[list[str]]], args: argparse.Namespace
) -> dict[str, Any]:
    from insight.analysis.plan.answer import TableQuestions, build_table_questions

    settings = get_settings()
    service: TableQuestions = build_table_questions(settings, use_model=args.planner != "rules", mode=args.planner)
    order = seeded_order(questions, data / "tables")
    if args.half != "all":  # tune on the first half of the seeded order, report on the second
        middle = len(order) // 2
        order = order[:middle] if args.half == "tune" else order[middle:]
    if args.levels:
        order = [q for q in order if q["level"] in args.levels.split(",")]
    sample = order[: args.limit] if args.limit else order
    tables = Tables(data / "tables")
    rows, seconds = [], []
    for q in sample:
        frame = tables.frame(q["file_name"])
        text = f"{q['question']}\n{q['constraints']}\n{q['format']}"
        started = time.perf_counter()
        answer = asyncio.run(service.answer(frame, text))
        seconds.append(time.perf_counter() - started)
        answers = {v.name: v.text for v in answer.values}
        row = {"id": q["id"], "level": q["level"], "concepts": q["concepts"]}
        row.update(
            refused=answer.refused,
            valid=answer.supported,
            correct=answer.supported and question_correct(answers, labels[q["id"]]),
            execution_ms=answer.execution_ms if answer.supported else None,
            planner=answer.planner,
            seconds=round(seconds[-1], 2),
            withdrawn=answer.refused and answer.plan is not None and answer.plan.supported,  # drafted, did not run
        )
        print(
            json.dumps({**row, "answers": answers, "reason": answer.reason, "labels": labels[q["id"]]}), file=sys.stderr
        )
        rows.append(row)
    asked = [row["seconds"] for row in rows if row["planner"] in ("model", "rules+model")]
    planners: dict[str, int] = defaultdict(int)
    for row in rows:
        planners[str(row["planner"])] += 1
    extra = {
        "planner": args.planner,
        "model": service.model_name,
        "sample": f"half={args.half}, first {len(sample)} of the seeded order"
        + (f", levels {args.levels}" if args.levels else ""),
        "p50_s_per_question": round(statistics.median(seconds), 2) if seconds else None,
        "p50_s_when_the_model_planned": round(statistics.median(asked), 2) if asked else None,
        "model_calls": len(asked),
        "withdrawn_plans": sum(row["withdrawn"] for row in rows),
        "plans_by": dict(planners),
    }
    return summarise(rows, f"planner:{args.planner}", extra)


_SYNONYMS = {
    "mean": "average", "average": "mean", "avg": "mean", "std": "standard_deviation", "max": "maximum",
    "maximum": "max", "min": "minimum", "minimum": "min", "count": "number", "number": "count",
    "highest": "largest", "lowest": "smallest",
}  # fmt: skip


def reworded(text: str, frame: Any, how: str) -> tuple[str, dict[str, str]]:
    """The question reworded, and the new name of each renamed ``@name`` (old → new)."""
    if how == "columns":
        for column in map(str, frame.columns):
            if len(column) >= 3 and column.lower() != column:
                pattern = rf"(?<![\w@]){re.escape(column)}(?!\w)"
                text = re.sub(pattern, column.lower().replace("_", " "), text)
        return text, {}
    renamed: dict[str, str] = {}
    for name in set(re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)\[", text)):
        new = "_".join(_SYNONYMS.get(w.lower(), w) for w in name.split("_"))
        if new != name:
            renamed[name] = new
            text = re.sub(rf"@{re.escape(name)}\[", f"@{new}[", text)
    return text, renamed


def run_paraphrases(
    data: Path, questions: list[dict[str, Any]], labels: dict[int, list[list[str]]], args: argparse.Namespace
) -> dict[str, Any]:
    from insight.analysis.plan.answer import build_table_questions

    service = build_table_questions(get_settings(), use_model=False, mode="rules")
    order = seeded_order(questions, data / "tables")
    middle = len(order) // 2
    order = order[:middle] if args.half == "tune" else order[middle:] if args.half == "held_out" else order
    tables = Tables(data / "tables")
    counts = {"variants": 0, "still_right": 0, "refused": 0, "wrong": 0}
    for q in order:
        frame = tables.frame(q["file_name"])
        text = f"{q['question']}\n{q['constraints']}\n{q['format']}"
        base = asyncio.run(service.answer(frame, text))
        if not (base.supported and question_correct({v.name: v.text for v in base.values}, labels[q["id"]])):
            continue
        new_text, renamed = reworded(text, frame, args.paraphrase)
        if new_text == text:
            continue
        answer = asyncio.run(service.answer(frame, new_text))
        back = {new: old for old, new in renamed.items()}
        got = {back.get(v.name, v.name): v.text for v in answer.values}
        counts["variants"] += 1
        if answer.refused or not answer.supported:
            counts["refused"] += 1
        elif question_correct(got, labels[q["id"]]):
            counts["still_right"] += 1
        else:
            counts["wrong"] += 1
            print(json.dumps({"id": q["id"], "renamed": renamed, "answers": got}), file=sys.stderr)
    return {"bench": "table_questions", "mode": f"paraphrase:{args.paraphrase}", "half": args.half, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/benchdata/dabench"))
    parser.add_argument("--reference", action="store_true", help="score the hand-written reference plans")
    parser.add_argument("--planner", choices=("model", "rules", "hybrid"), default="hybrid")
    parser.add_argument("--limit", type=int, default=0, help="first N questions of the seeded order (0: all)")
    parser.add_argument(
        "--half",
        choices=("all", "tune", "held_out"),
        default="tune",
        help="tune: first half of the seeded order (the reference sample is in it); held_out: the second half, "
        "for reporting only (ask for it by name: it must not guide the rules)",
    )
    parser.add_argument("--levels", default="", help="comma-separated levels to keep (easy,medium,hard)")
    parser.add_argument("--paraphrase", choices=("names", "columns"), help="reword the questions the rules get right")
    args = parser.parse_args()
    questions, labels = load(args.data)
    if args.paraphrase:
        result = run_paraphrases(args.data, questions, labels, args)
    elif args.reference:
        result = run_reference(args.data, questions, labels)
    else:
        result = run_planner(args.data, questions, labels, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
