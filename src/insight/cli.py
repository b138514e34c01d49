"""``insight``: the command line. Settings are built once here and passed down."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from insight.config import Settings
from insight.errors import InsightError

app = typer.Typer(
    name="insight",
    help="Insight: analysis, search, evaluation runs and prediction — offline by default.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  INSIGHT_{'__'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        ]
        err_console.print("[red]invalid settings:[/red]\n" + "\n".join(lines))
        raise typer.Exit(2) from exc


def fail(exc: InsightError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default: settings)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings)")] = None,
) -> None:
    """Run the API with one uvicorn process."""
    import uvicorn

    from insight.api.app import create_app

    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        access_log=settings.api.access_log,
        log_level=settings.log_level.lower(),
    )


@app.command()
def train(
    search: Annotated[bool, typer.Option("--search", help="bounded hyper-parameter search first")] = False,
    config_path: Annotated[
        Path | None, typer.Option("--config", help="model config (default: settings)")
    ] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="do nothing when a served model already exists")
    ] = False,
) -> None:
    """Train the predictor: cross-validate, test against the config's targets, track, serve."""
    from insight.predictor.artifact import METADATA_FILE
    from insight.predictor.config import load_model_config
    from insight.predictor.training import train as run_training

    settings = load_settings()
    if if_missing and (settings.predictor.model_dir / METADATA_FILE).is_file():
        console.print(f"a model is already in {settings.predictor.model_dir}; not retraining")
        return
    try:
        config = load_model_config(config_path or settings.predictor.config_path)
        with console.status("training…") as status:
            report = run_training(settings, config, search=search, progress=lambda msg: status.update(msg))
    except InsightError as exc:
        raise fail(exc) from exc

    meta = report.metadata
    table = Table(title=f"{meta.name} — test split vs targets")
    for column in ("metric", "test", "CV mean ± std", "target", "result"):
        table.add_column(column)
    for check in report.checks:
        cv = meta.cv_metrics.get(check.metric)
        table.add_row(
            check.metric,
            f"{check.value:.4f}",
            f"{cv.mean:.4f} ± {cv.std:.4f}" if cv else "—",
            f"≥ {check.target:.2f}",
            "[green]pass[/green]" if check.passed else "[red]MISS[/red]",
        )
    console.print(table)
    if report.search_trials:
        console.print(f"search: {report.search_trials} trials, best {report.best_search_params}")
    console.print(f"MLflow run {meta.mlflow_run_id} ({settings.tracking.uri})")
    if not report.served:
        missed = ", ".join(c.metric for c in report.checks if not c.passed)
        err_console.print(
            f"[red]targets missed ({missed})[/red]: the model was logged but not registered "
            f"nor served; {report.model_dir} is unchanged."
        )
        raise typer.Exit(1)
    console.print(f"[green]served[/green] {meta.name} v{meta.version} → {report.model_dir}")


@app.command("model-card")
def model_card(
    output: Annotated[Path, typer.Option(help="where to write the card")] = Path("MODEL_CARD.md"),
) -> None:
    """Write MODEL_CARD.md from the served model's recorded metadata."""
    from insight.predictor.artifact import read_metadata
    from insight.predictor.model_card import render_model_card

    settings = load_settings()
    try:
        metadata = read_metadata(settings.predictor.model_dir)
    except InsightError as exc:
        raise fail(exc) from exc
    output.write_text(render_model_card(metadata, settings))
    console.print(f"wrote {output} for {metadata.name} v{metadata.version}")


if __name__ == "__main__":  # pragma: no cover
    app()
