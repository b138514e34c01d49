"""``insight``: the command line. Settings are built once here and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from insight.analysis.plan.cli import ask_table
from insight.auth.cli import keys_app
from insight.bulk.cli import AddressOption, EngineOption, engine_settings, ingest_with_ray, predict_batch
from insight.config import Settings
from insight.console import console, err_console, fail, load_settings
from insight.errors import InsightError
from insight.evaluation.cli import EXECUTORS, eval_app

if TYPE_CHECKING:
    from insight.analysis.insights import InsightReport
    from insight.evaluation.runner import CaseExecutor
    from insight.rag.service import RagService


def _ray_case_executor(settings: Settings, cache_root: Path | None) -> CaseExecutor:
    from insight.bulk.evaluate import RayCaseExecutor  # Ray and the runner load only when asked for

    return RayCaseExecutor(settings, cache_root)


app = typer.Typer(
    name="insight",
    help="Insight: analysis, search, evaluation runs and prediction — offline by default.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"obj": {EXECUTORS: {"ray": _ray_case_executor}}},
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default: settings)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings)")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="local development: create (once) and print an admin API key")
    ] = False,
) -> None:
    """Run the API with one uvicorn process."""
    import uvicorn

    from insight.api.app import create_app
    from insight.observability.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if dev and settings.auth.enabled:
        settings = settings.model_copy(update={"auth": settings.auth.model_copy(update={"dev_mode": True})})
    if settings.auth.enabled and settings.auth.dev_mode:
        _print_dev_key(settings, host or settings.api.host, port or settings.api.port)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,  # keep configure_logging's handler (JSON or text, with the request id)
        access_log=False,  # the app logs one access line per request itself, with its request id
        log_level=settings.log_level.lower(),
    )


def _print_dev_key(settings: Settings, host: str, port: int) -> None:
    from insight.auth.store import KeyStore, ensure_dev_key

    try:
        key = ensure_dev_key(KeyStore(settings.auth.keys_path), settings.auth.dev_key_path)
    except InsightError as exc:
        raise fail(exc) from exc
    console.print(f"dev mode: local admin API key (kept in {settings.auth.dev_key_path}):\n{key}")
    console.print(f"  curl -H 'Authorization: Bearer {key}' http://{host}:{port}/api/v1/collections")


@app.command()
def train(
    search: Annotated[bool, typer.Option("--search", help="bounded hyper-parameter search first")] = False,
    config_path: Annotated[Path | None, typer.Option("--config", help="model config (default: settings)")] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="do nothing when a served model already exists")
    ] = False,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="train and serve even when the data's digest differs from the served or registered model's "
            "(recorded in the MLflow run)",
        ),
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
            report = run_training(
                settings,
                config,
                search=search,
                allow_data_change=allow_data_change,
                progress=lambda msg: status.update(msg),
            )
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
            f"{check.op} {check.target:.2f}",
            "[green]pass[/green]" if check.passed else "[red]MISS[/red]",
        )
    console.print(table)
    if report.search_trials:
        console.print(f"search: {report.search_trials} trials, best {report.best_search_params}")
    console.print(f"MLflow run {meta.mlflow_run_id} ({settings.tracking.uri})")
    for change in report.data_changes:
        err_console.print(f"[yellow]data changed (allowed, recorded in the run)[/yellow]: {change}")
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
    model_dir: Annotated[
        Path | None, typer.Option("--model-dir", help="the model's folder (default: the served model's)")
    ] = None,
) -> None:
    """Write MODEL_CARD.md from the served model's recorded metadata."""
    from insight.predictor.artifact import read_metadata
    from insight.predictor.model_card import render_model_card

    settings = load_settings()
    try:
        metadata = read_metadata(model_dir or settings.predictor.model_dir)
    except InsightError as exc:
        raise fail(exc) from exc
    output.write_text(render_model_card(metadata, settings, model_dir))
    console.print(f"wrote {output} for {metadata.name} v{metadata.version}")


collections_app = typer.Typer(help="Document collections: list, stats, delete.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
app.add_typer(keys_app, name="keys")
app.add_typer(eval_app, name="eval")
app.command("predict-batch")(predict_batch)


def _rag(settings: Settings) -> RagService:
    from insight.rag.factory import build_rag_service

    try:
        return build_rag_service(settings)
    except InsightError as exc:
        raise fail(exc) from exc


def _files_under(paths: list[Path]) -> list[tuple[Path, str]]:
    """Files to ingest with their document ids: the path relative to a given folder, or the file name."""
    from insight.rag.loaders import SUPPORTED_EXTENSIONS
    from insight.reader import walk_folder

    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            walk = walk_folder(path, SUPPORTED_EXTENSIONS)  # never leaves the folder: links out are skipped
            for skipped, why in walk.skipped:
                err_console.print(f"[yellow]skipped[/yellow] {skipped}: {why}")
            found.extend(walk.files)
        elif path.is_file():
            found.append((path, path.name))
        else:
            err_console.print(f"[red]error:[/red] {path} does not exist")
            raise typer.Exit(2)
    return found


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (searched recursively)")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="target collection")] = "default",
    engine: EngineOption = "local",
    address: AddressOption = None,
) -> None:
    """Ingest documents; unchanged files are skipped, changed ones replaced, a re-run is safe."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from insight.rag.ingest import IngestReport
    from insight.rag.sources import documents_from_file

    settings, parsed_engine = engine_settings(load_settings(), engine, address)
    files = _files_under(paths)
    if not files:
        err_console.print("[yellow]no supported files found[/yellow]")
        raise typer.Exit(1)
    report = IngestReport()
    documents = []
    for path, doc_id in files:
        try:
            documents.extend(documents_from_file(str(path), path.read_bytes(), {}, doc_id=doc_id))
        except InsightError as exc:
            report.failed.append((str(path), exc.message))
    if parsed_engine == "ray":
        ingest_with_ray(settings, collection, documents, report)
        return
    rag = _rag(settings)
    columns = (
        TextColumn("[bold]ingest[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs · {task.fields[chunks]} chunks · {task.fields[rate]:.1f} docs/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("ingest", total=len(documents), chunks=0, rate=0.0)

        def progress(done: int, chunks: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, chunks=chunks, rate=done / elapsed)

        try:
            result = rag.ingest(collection, documents, progress)
        except InsightError as exc:
            raise fail(exc) from exc
    info = rag.collection_info(collection)
    console.print(
        f"{len(result.added)} added, {len(result.updated)} updated, {len(result.unchanged)} unchanged; "
        f"{result.chunks_embedded} chunks embedded, {result.chunks_deleted} removed in {result.seconds:.1f} s"
    )
    console.print(
        f"collection [bold]{collection}[/bold]: {info.documents} documents, "
        f"{info.chunks} chunks (version {info.version})"
    )
    for source, message in report.failed:
        err_console.print(f"[red]failed[/red] {source}: {message}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    collection: Annotated[str, typer.Option("--collection", "-c")] = "default",
    mode: Annotated[str, typer.Option(help="hybrid | dense | lexical")] = "hybrid",
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 5,
) -> None:
    """Search a collection and show each hit with its score breakdown."""
    if mode not in ("hybrid", "dense", "lexical"):
        err_console.print("[red]error:[/red] --mode must be hybrid, dense or lexical")
        raise typer.Exit(2)
    settings = load_settings()
    rag = _rag(settings)
    try:
        hits = rag.search(collection, query, top_k=top_k, mode=mode)  # type: ignore[arg-type]
    except InsightError as exc:
        raise fail(exc) from exc
    table = Table(title=f"{collection}: {query!r} ({mode})")
    table.add_column("#")
    table.add_column("document", no_wrap=True, min_width=min(40, max((len(h.doc_id) for h in hits), default=8)))
    for column in ("fused", "dense (rank, score)", "lexical (rank, score)"):
        table.add_column(column)
    table.add_column("text", ratio=1)
    for i, hit in enumerate(hits, 1):
        table.add_row(
            str(i),
            hit.doc_id,
            f"{hit.score:.4f}",
            f"{hit.dense.rank}, {hit.dense.score:.3f}" if hit.dense else "—",
            f"{hit.lexical.rank}, {hit.lexical.score:.2f}" if hit.lexical else "—",
            hit.text[:120].replace("\n", " ") + ("…" if len(hit.text) > 120 else ""),
        )
    console.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="a question about the collection's documents")],
    collection: Annotated[str, typer.Option("--collection", "-c")] = "default",
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50)] = None,
) -> None:
    """Answer from a collection's documents, streaming the answer, then list the cited passages."""
    import asyncio

    from insight.llm.slot import LLMSlot
    from insight.prompts import PromptRegistry
    from insight.rag.answer import Answer, build_answerer

    settings = load_settings()
    rag = _rag(settings)
    try:
        prompts = PromptRegistry(settings.prompts_dir)
        llm = LLMSlot(settings.llm, prompts=prompts)  # built on use: the extractive mode calls no model
        answerer = build_answerer(settings.search, rag, llm, prompts, answer=settings.answer)  # as the API builds it

        async def run() -> Answer:
            final = Answer(answer="", found=False)
            async for kind, value in answerer.stream(collection, question, top_k):
                if kind == "token":
                    console.print(value, end="")
                elif kind == "extractive":
                    console.print(f"[dim]{value.answer}[/dim]")
                else:
                    final = value
            if final.mode != "passages":
                console.print(final.answer)
                reason = final.meta.get("fallback_reason") or final.meta.get("not_found_reason")
                if reason:
                    console.print(f"[dim]({reason})[/dim]")
            console.print()
            return final

        answer = asyncio.run(run())
    except InsightError as exc:
        raise fail(exc) from exc
    for citation in answer.citations:
        where = f"{citation.doc_id}" + (f" p.{citation.page}" if citation.page else "")
        span = (
            (citation.quote_start, citation.quote_end) if citation.quote is not None else (citation.start, citation.end)
        )
        console.print(f"[bold][{citation.marker}][/bold] {where} chars {span[0]}-{span[1]}")
    for hit in answer.related:
        console.print(f"[dim]related: {hit.doc_id} — {hit.text[:100]}[/dim]")
    if answer.invalid_citations:
        console.print(f"[yellow]dropped citations that matched no passage: {answer.invalid_citations}[/yellow]")


@app.command()
def analyze(
    path: Annotated[Path, typer.Argument(help="a table: .csv, .tsv, .json, .jsonl, .parquet or .xlsx")],
    question: Annotated[str | None, typer.Option("--question", "-q")] = None,
    domain: Annotated[str | None, typer.Option("--domain", "-d")] = None,
    allow_sampling: Annotated[bool, typer.Option("--sample", help="sample rows over the limit")] = False,
    narrate: Annotated[bool, typer.Option("--narrate/--no-narrate", help="ask the model to narrate")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole response as JSON")] = False,
) -> None:
    """Computed, tested, ranked insights of a table, printed at once; then the narration."""
    import asyncio

    from insight.analysis import DataLimits, build_analyzer
    from insight.analysis.parsing import parse_path
    from insight.llm.slot import LLMSlot
    from insight.prompts import PromptRegistry

    settings = load_settings()
    try:
        parsed = parse_path(path, limits=DataLimits.of(settings.analysis), allow_sampling=allow_sampling)
        prompts = PromptRegistry(settings.prompts_dir)
        analyzer = build_analyzer(settings.analysis, prompts, LLMSlot(settings.llm, prompts=prompts))
        computed = analyzer.compute(parsed, question)
        if not as_json:
            _print_insights(computed.report)
        with console.status("narrating…" if narrate and analyzer.llm.configured else "writing the summary…"):
            response = asyncio.run(analyzer.narrate(computed, question, domain, narrate=narrate))
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot read {path}: {exc.strerror}")
        raise typer.Exit(2) from exc
    except InsightError as exc:
        raise fail(exc) from exc
    if as_json:
        console.print_json(response.model_dump_json())
        return
    result, meta = response.result, response.meta
    console.print(f"\n[bold]Summary[/bold] {result.summary}")
    for point in result.key_points:
        console.print(f"  • {point}")
    for recommendation in result.recommendations or []:
        console.print(f"  → [dim](suggestion)[/dim] {recommendation}")
    grounding = response.grounding
    console.print(
        f"confidence {result.confidence:.2f}; {len(grounding.supported)} figures grounded, "
        f"{len(grounding.unsupported)} unsupported"
    )
    who = f"model {meta.provider}/{meta.model}" if meta.narrator == "model" else f"template ({meta.narrator_reason})"
    console.print(f"[dim]narrated by {who}[/dim]")


app.command("ask-table")(ask_table)


def _print_insights(report: InsightReport) -> None:
    table = Table(
        title=f"{len(report.insights)} of {report.significant} insights "
        f"({report.candidates_tested} tests, FDR q = {report.fdr_q}, {report.engine_ms:.0f} ms)"
    )
    for column in ("#", "type", "score", "p (adj.)", "finding"):
        table.add_column(column, overflow="fold")
    for rank, insight in enumerate(report.insights, start=1):
        p = "—" if insight.test.p_adjusted is None else f"{insight.test.p_adjusted:.2g}"
        table.add_row(str(rank), insight.type, f"{insight.score:.2f}", p, insight.statement)
    console.print(table)
    for issue in report.quality:
        console.print(f"[yellow]data quality:[/yellow] {issue.detail}")


@collections_app.command("list")
def collections_list() -> None:
    """Collections with their document and chunk counts."""
    rag = _rag(load_settings())
    table = Table(title="collections")
    for column in ("name", "documents", "chunks", "version", "embedding model"):
        table.add_column(column)
    for info in rag.collections():
        table.add_row(info.name, str(info.documents), str(info.chunks), str(info.version), info.embedding_model)
    console.print(table)


@collections_app.command("delete")
def collections_delete(name: str) -> None:
    """Delete a collection and everything in it."""
    rag = _rag(load_settings())
    try:
        rag.delete_collection(name)
    except InsightError as exc:
        raise fail(exc) from exc
    console.print(f"deleted collection {name}")


if __name__ == "__main__":  # pragma: no cover
    app()
