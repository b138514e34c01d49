"""The bulk jobs' command-line pieces: ``--engine`` / ``--address`` and ``insight predict-batch``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from insight.config import Settings
from insight.console import console, err_console, fail, load_settings
from insight.errors import InsightError

from .engine import Engine

if TYPE_CHECKING:
    from insight.rag.ingest import IngestReport, SourceDocument

EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local: in this process; ray: on Ray (a local Ray started for the job, or the cluster at --address)",
    ),
]
AddressOption = Annotated[
    str | None, typer.Option("--address", help="join this Ray cluster (default: INSIGHT_RAY__ADDRESS, else local)")
]


def engine_settings(settings: Settings, engine: str, address: str | None) -> tuple[Settings, Engine]:
    """Settings with ``--address`` applied, and the parsed engine; a bad value ends the command."""
    from .engine import parse_engine

    try:
        parsed = parse_engine(engine)
    except InsightError as exc:
        raise fail(exc, code=2) from exc
    if address:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
    return settings, parsed


def predict_batch(
    source: Annotated[Path, typer.Argument(help="rows to score: .csv or .parquet", exists=True, dir_okay=False)],
    target: Annotated[Path, typer.Argument(help="where to write them scored: .csv or .parquet")],
    engine: EngineOption = "local",
    address: AddressOption = None,
) -> None:
    """Score a file with the served model: rows in input order, each with the model version."""
    from .predict import predict_file

    settings, parsed = engine_settings(load_settings(), engine, address)
    try:
        with console.status(f"scoring {source.name} ({parsed})…"):
            report = predict_file(settings, source, target, parsed)
    except InsightError as exc:
        raise fail(exc) from exc
    console.print(
        f"{report.rows} rows scored by {report.model_name} v{report.model_version} ({report.engine}) "
        f"in {report.seconds:.1f} s ({report.rows_per_minute:,.0f} rows/min) → {target}"
    )


def ingest_with_ray(settings: Settings, collection: str, documents: list[SourceDocument], report: IngestReport) -> None:
    """``insight ingest --engine ray``: Ray Data's progress bars, then the local path's summary."""
    from .ingest import ingest_on_ray

    try:
        result, info = ingest_on_ray(settings, collection, documents, report, progress_bars=True)
    except InsightError as exc:
        raise fail(exc) from exc
    console.print(
        f"{len(result.added)} added, {len(result.updated)} updated, {len(result.unchanged)} unchanged; "
        f"{result.chunks_embedded} chunks embedded on Ray, {result.chunks_deleted} removed in {result.seconds:.1f} s"
    )
    console.print(
        f"collection [bold]{collection}[/bold]: {info.documents} documents, "
        f"{info.chunks} chunks (version {info.version})"
    )
    for source, message in result.failed:
        err_console.print(f"[red]failed[/red] {source}: {message}")
    if result.failed:
        raise typer.Exit(1)
