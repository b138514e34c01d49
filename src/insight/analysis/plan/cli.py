"""``insight ask-table FILE "question"``: the question answered by a typed plan executed on the table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from insight.console import console, err_console, fail, load_settings
from insight.errors import InsightError


def ask_table(
    path: Annotated[Path, typer.Argument(help="a table: .csv, .tsv, .json, .jsonl, .parquet or .xlsx")],
    question: Annotated[str, typer.Argument(help="the question, e.g. 'mean fare? @mean_fare[value], 2 decimals'")],
    use_model: Annotated[bool, typer.Option("--model/--no-model", help="let the model plan what rules cannot")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole answer as JSON")] = False,
) -> None:
    """Answer a question about a table by computation: the plan, its values and one sentence."""
    from insight.analysis.parsing import DataLimits, parse_path  # pandas and scipy load only when used
    from insight.analysis.plan.answer import build_table_questions

    settings = load_settings()
    try:
        parsed = parse_path(path, limits=DataLimits.of(settings.analysis))
        service = build_table_questions(settings, use_model=use_model)
        answer = asyncio.run(service.answer(parsed.frame, question, use_model=use_model))
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot read {path}: {exc.strerror}")
        raise typer.Exit(2) from exc
    except InsightError as exc:
        raise fail(exc) from exc
    if as_json:
        console.print_json(answer.model_dump_json())
        return
    if not answer.supported:
        console.print(f"[yellow]not answered:[/yellow] {answer.reason}")
        raise typer.Exit(1)
    console.print("[bold]Plan[/bold]")
    for number, step in enumerate(answer.steps, start=1):
        console.print(f"  {number}. {step}")
    for value in answer.values:
        console.print(f"[bold]{value.name}[/bold] = {value.text}")
    console.print(answer.sentence or "")
    who = answer.planner if answer.model is None else f"{answer.planner} ({answer.model})"
    console.print(f"[dim]planned by {who}; executed in {answer.execution_ms} ms[/dim]")
