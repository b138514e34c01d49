"""``insight eval``: run a suite (exit 1 when a target is missed), compare prompt versions, list suites."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from insight.console import console, err_console, fail, load_settings
from insight.errors import InsightError
from insight.evaluation.runner import RunResult
from insight.evaluation.stats import MetricSummary, direction

if TYPE_CHECKING:
    from insight.config import Settings
    from insight.evaluation.runner import CaseExecutor

ExecutorFactory = Callable[["Settings", "Path | None"], "CaseExecutor"]
EXECUTORS = "eval_executors"
"""Key in the command context's ``obj``: engine name → executor factory, given by the application that
mounts ``eval_app`` (the evaluation layer does not import the engines that run cases elsewhere)."""

eval_app = typer.Typer(
    help="Prompt evaluation runs: suites with targets fixed in the file, tracked in MLflow.", no_args_is_help=True
)

EXIT_MISSED = 1
EXIT_ERROR = 2
TABLE_WIDTH = 130  # the table stays readable in CI logs, where the console is 80 columns


def _executor(ctx: typer.Context, engine: str, settings: Settings, cache_root: Path | None) -> CaseExecutor | None:
    """None for ``local``; else the mounting application's executor for ``engine``."""
    if engine == "local":
        return None
    obj: Any = ctx.obj
    factories: Mapping[str, ExecutorFactory] = obj.get(EXECUTORS, {}) if isinstance(obj, dict) else {}
    if engine not in factories:
        from insight.errors import ConfigError

        known = ", ".join(["local", *sorted(factories)])
        raise ConfigError(f"engine must be one of {known}, got {engine!r}")
    return factories[engine](settings, cache_root)


def _fail(exc: InsightError) -> typer.Exit:
    return fail(exc, EXIT_ERROR)


def _wide(console: Console) -> Console:
    """The console, or one ``TABLE_WIDTH`` wide when output is not a terminal (CI logs default to 80 columns)."""
    return console if console.is_terminal else Console(width=TABLE_WIDTH, soft_wrap=True)


def _interval(summary: MetricSummary) -> str:
    if summary.low is None or summary.high is None:
        return "—"
    return f"[{summary.low:.4g}, {summary.high:.4g}]"


def results_table(result: RunResult) -> Table:
    table = Table(title=f"{result.label} · {result.model or 'no model'} · data {result.dataset_sha256[:12]}")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("95% CI", no_wrap=True)
    table.add_column("n", no_wrap=True)
    table.add_column("unmeasured")
    table.add_column("target")
    table.add_column("pass")
    targets = {t.target.metric: t for t in result.targets}
    for name, summary in result.metrics.items():
        check = targets.get(name)
        reasons = ", ".join(f"{k}×{v}" for k, v in summary.reasons.items())
        table.add_row(
            name,
            f"{summary.value:.4g}" if summary.value is not None else "—",
            _interval(summary),
            str(summary.measured),
            f"{summary.unmeasured}" + (f" ({reasons})" if reasons else ""),
            check.target.describe() if check else f"— ({direction(name)})",
            ("[green]pass[/green]" if check.passed else f"[red]MISS[/red] {check.why}") if check else "",
        )
    return table


@eval_app.command("run")
def run(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="suite name (eval/suites/<name>.yaml) or a path to a suite file")],
    prompt_version: Annotated[
        list[int] | None, typer.Option("--prompt-version", "-p", help="prompt version(s) to run (default: the suite's)")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="a JSONL dataset, or a BEIR folder, instead of the suite's")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N cases")] = None,
    track: Annotated[bool, typer.Option(help="log the runs to MLflow")] = True,
    promote: Annotated[bool, typer.Option(help="move the suite's alias to a version that passes")] = True,
    cache: Annotated[bool, typer.Option(help="reuse recorded model outputs for unchanged cases")] = True,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="record (and promote) even when the dataset's hash differs from the suite's last tracked run",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local: in this process; ray: the cases on Ray actors"),
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="join this Ray cluster (default: INSIGHT_RAY__ADDRESS, else local)")
    ] = None,
) -> None:
    """Run a suite: a table per prompt version; exit code 1 when any target is missed."""
    import anyio
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from insight.evaluation.cache import OutputCache
    from insight.evaluation.runner import Evaluator
    from insight.evaluation.suites import find_suite
    from insight.evaluation.tracking import log_results
    from insight.prompts import PromptRegistry
    from insight.tracking import configure_tracking

    settings = load_settings()
    try:
        loaded = find_suite(suite, settings.evaluation.suites_dir)
        prompts = PromptRegistry(settings.prompts_dir)
        cache_root = settings.evaluation.cache_dir if cache else None
        if address:
            settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
        if track:  # an unreachable MLflow fails now, not after a run of many minutes
            configure_tracking(settings.tracking, settings.evaluation.experiment)
        executor = _executor(ctx, engine, settings, cache_root)
        evaluator = Evaluator(settings, prompts, cache=OutputCache(cache_root), executor=executor)
        columns = (
            TextColumn(f"[bold]{loaded.suite.name}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("cases", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            async def go() -> list[RunResult]:
                return await evaluator.run(
                    loaded, versions=prompt_version or None, data=data, limit=limit, progress=progress
                )

            results = anyio.run(go)
        if track:
            log_results(
                results,
                settings,
                prompts,
                alias=loaded.suite.alias if promote else None,
                allow_data_change=allow_data_change,
            )
    except InsightError as exc:
        raise _fail(exc) from exc
    for result in results:
        _wide(console).print(results_table(result))
        console.print(
            f"{len(result.cases)} case runs in {result.seconds:.1f} s · cache {result.cache_hits} hits, "
            f"{result.cache_misses} misses · suite {result.suite_sha256[:12]}"
            + (f" · MLflow run {result.mlflow_run_id}" if result.mlflow_run_id else "")
        )
        if result.promoted:
            console.print(f"[green]promoted[/green] {result.promoted}")
    missed = [r.label for r in results if not r.passed]
    if missed:
        err_console.print(f"[red]targets missed[/red]: {', '.join(missed)}")
        raise typer.Exit(EXIT_MISSED)
    console.print("[green]all targets met[/green]")


@eval_app.command("compare")
def compare(
    suites: Annotated[
        list[str], typer.Argument(help="suite name or path; several set their runs side by side (same dataset)")
    ],
) -> None:
    """The latest run of each prompt version side by side (of one suite, or of several: e.g. the answer modes
    of one dataset); the plot is saved as an MLflow artifact."""
    from insight.evaluation.suites import find_suite
    from insight.evaluation.tracking import compare as compare_runs

    settings = load_settings()
    try:
        loaded = [find_suite(suite, settings.evaluation.suites_dir).suite for suite in suites]
        names = [suite.name for suite in loaded]
        metrics = list(dict.fromkeys(metric for suite in loaded for metric in suite.metrics))
        runs, plot_run = compare_runs(names, metrics, settings)
    except InsightError as exc:
        raise _fail(exc) from exc
    title = " vs ".join(names)
    if not runs:
        console.print(f"no tracked runs of {title} yet: run `insight eval run {names[0]}`")
        raise typer.Exit(EXIT_MISSED)
    table = Table(title=f"{title}: latest run per version")
    table.add_column("metric")
    table.add_column("target")
    for run in runs:
        table.add_column(f"{run.label} ({run.gate})")
    for metric in metrics:
        # suites compared side by side may set different targets: each is shown, and each run's mark is its own
        target = " / ".join(dict.fromkeys(t for r in runs if (t := r.targets.get(metric, ""))))
        cells = []
        for run in runs:
            if metric not in run.metrics:
                cells.append("—")
                continue
            value, low, high = run.metrics[metric]
            interval = f" [{low:.3g}, {high:.3g}]" if low is not None and high is not None else ""
            mark = {"true": " ✓", "false": " ✗"}.get(run.passes.get(metric, ""), "")
            cells.append(f"{value:.4g}{interval}{mark}")
        table.add_row(metric, target or "—", *cells)
    _wide(console).print(table)
    console.print(f"plot: MLflow run {plot_run}, artifact comparison.png ({settings.tracking.uri})")


@eval_app.command("list")
def list_command() -> None:
    """The suites in the suites folder, with their targets."""
    from insight.evaluation.suites import list_suites

    settings = load_settings()
    try:
        suites = list_suites(settings.evaluation.suites_dir)
    except InsightError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"suites in {settings.evaluation.suites_dir}")
    for column in ("name", "kind", "prompt", "dataset", "targets"):
        table.add_column(column)
    for loaded in suites:
        s = loaded.suite
        prompt = f"{s.prompt.name} {s.prompt.versions or 'latest'}" if s.prompt else "—"
        if s.dataset is None:
            dataset = "model config test split"
        elif s.dataset.path is not None:
            dataset = str(s.dataset.path)
        else:
            dataset = f"BEIR {s.dataset.beir or '(--data / settings)'} {s.dataset.split}"
        targets = "; ".join(f"{t.metric} {t.describe()}" for t in s.targets)
        table.add_row(s.name, s.kind, prompt, dataset, targets)
    console.print(table)
