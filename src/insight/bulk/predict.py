"""``insight predict-batch IN OUT``: a CSV or Parquet file scored by the served predictor, locally or on Ray.

Two designs on Ray (``ray.predict_scorers``): resident scorers, named actors kept on the cluster between jobs
that read Parquet row groups themselves (the default), and a Ray Data actor pool started for each job (design
1); docs/scaling.md has both measured. The artifact is hash-checked where it is loaded: once by the local
engine, once per actor on Ray, and every actor must load the artifact the job started with (the sha256 recorded
in its metadata), so a model swapped mid-job is refused rather than mixed in. Each batch is one vectorised
``Predictor.predict`` call. Output rows follow input rows; the columns that are not features (ids, keys) are
carried through, then ``prediction``, ``label``, ``confidence`` (a regression model: ``prediction`` only) and
``model_version``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from insight.config import RaySettings, Settings
from insight.errors import ConfigError, FieldProblem, InsightError, InvalidInput, ModelIntegrityError
from insight.predictor.artifact import ModelMetadata
from insight.predictor.data import FloatMatrix
from insight.predictor.service import Predictor

from .engine import Engine, ray_runtime

if TYPE_CHECKING:
    from types import ModuleType

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_COLUMNS = ("prediction", "label", "confidence", "model_version")


@dataclass(frozen=True)
class BatchReport:
    rows: int
    seconds: float
    engine: Engine
    model_name: str
    model_version: str

    @property
    def rows_per_minute(self) -> float:
        return self.rows * 60.0 / self.seconds if self.seconds > 0 else float("inf")


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InvalidInput(
            [FieldProblem(("path",), f"{path.name}: use a .csv or .parquet file", "unsupported_format")]
        ) from None


def read_table(path: Path) -> pa.Table:
    if file_format(path) == "parquet":
        return pq.read_table(path)
    return pa_csv.read_csv(path)


def write_table(table: pa.Table, path: Path) -> None:
    """Written to a temporary name beside ``path``, then renamed: a failed job leaves no half file."""
    staging = path.with_name(f".{path.name}.partial")
    if file_format(path) == "parquet":
        pq.write_table(table, staging)
    else:
        pa_csv.write_csv(table, staging)
    staging.replace(path)


def feature_matrix(table: pa.Table, feature_names: list[str]) -> FloatMatrix:
    """The feature columns as one float64 matrix; nulls become NaN (the pipeline imputes them)."""
    present = set(table.column_names)
    problems = [
        FieldProblem(("columns", name), "feature column is missing", "missing")
        for name in feature_names
        if name not in present
    ]
    problems += [
        FieldProblem(("columns", name), f"must be numeric, is {kind}", "type_error")
        for name in feature_names
        if name in present and not _numeric(kind := table.schema.field(name).type)
    ]
    if problems:
        raise InvalidInput(problems)
    out = np.empty((table.num_rows, len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        column = pc.cast(table.column(name), pa.float64())
        out[:, j] = column.to_numpy()
    return out


def _numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


class BatchScorer:
    """One loaded predictor; called once per batch (a Ray actor holds one, the local engine one)."""

    def __init__(self, model_dir: Path, expected_sha256: str | None = None) -> None:
        self.predictor = Predictor.load(model_dir)
        meta = self.predictor.metadata
        if expected_sha256 is not None and meta.sha256 != expected_sha256:
            raise ModelIntegrityError(
                f"the model in {model_dir} changed during the job (sha256 {meta.sha256[:12]}…, "
                f"the job started with {expected_sha256[:12]}…): run it again"
            )
        self._labels = pa.array(meta.class_labels, type=pa.string())
        self.passthrough_exclude = set(meta.feature_names) | set(OUTPUT_COLUMNS)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """The batch's columns that are not features, then the output columns."""
        kept = [name for name in batch.column_names if name not in self.passthrough_exclude]
        return _joined(batch.select(kept), self.outputs(batch))

    def outputs(self, batch: pa.Table) -> pa.Table:
        """The output columns alone, for the batch's rows in order (a batch may hold only the features)."""
        meta = self.predictor.metadata
        result = self.predictor.predict(feature_matrix(batch, meta.feature_names))
        columns: dict[str, pa.Array] = {}
        if meta.task == "regression":
            columns["prediction"] = pa.array(result.values, type=pa.float64())
        else:
            columns["prediction"] = pa.array(result.classes, type=pa.int64())
            columns["label"] = self._labels.take(pa.array(result.classes))
            columns["confidence"] = pa.array(result.confidence, type=pa.float64())
        columns["model_version"] = pa.array(np.full(batch.num_rows, meta.version, dtype=object), pa.string())
        return pa.table(columns)


def _joined(left: pa.Table, right: pa.Table) -> pa.Table:
    """Two tables of the same rows side by side (``left``'s columns first)."""
    columns = {name: left.column(name) for name in left.column_names}
    columns.update({name: right.column(name) for name in right.column_names})
    return pa.table(columns)


def predict_file(settings: Settings, source: Path, target: Path, engine: Engine = "local") -> BatchReport:
    """Score every row of ``source`` into ``target`` (each .csv or .parquet)."""
    file_format(target)
    file_format(source)
    model_dir = settings.predictor.model_dir
    scorer = BatchScorer(model_dir)  # checks the artifact (and the input's columns) before any engine starts
    meta = scorer.predictor.metadata
    started = time.perf_counter()
    if engine == "ray" and settings.ray.predict_scorers == "resident":
        scored = _predict_with_resident_scorers(settings.ray, source, model_dir, scorer)
    else:
        table = read_table(source)
        _check_input(source, table.schema, table.num_rows, meta.feature_names)
        step = settings.ray.predict_batch_rows
        if engine == "local":
            scored = pa.concat_tables([scorer(table.slice(at, step)) for at in range(0, table.num_rows, step)])
        else:
            scored = pa.concat_tables(_predict_on_ray(settings, table, model_dir, meta.sha256))
    write_table(scored, target)
    return BatchReport(
        rows=scored.num_rows,
        seconds=time.perf_counter() - started,
        engine=engine,
        model_name=meta.name,
        model_version=meta.version,
    )


def _check_input(source: Path, schema: pa.Schema, rows: int, feature_names: list[str]) -> None:
    """A missing or text feature column, or an empty file, is refused before anything is scored."""
    feature_matrix(schema.empty_table(), feature_names)
    if rows == 0:
        raise InvalidInput([FieldProblem(("rows",), f"{source.name} holds no rows", "too_short")])


# Design 1 (``ray.predict_scorers = "per_job"``): a Ray Data actor pool started for the job.
def _predict_on_ray(settings: Settings, table: pa.Table, model_dir: Path, sha256: str) -> list[pa.Table]:
    """Blocks of ``predict_batch_rows`` through an actor pool; blocks come back in input order."""
    ray_settings = settings.ray
    step = ray_settings.predict_batch_rows
    blocks = [table.slice(at, step) for at in range(0, table.num_rows, step)]
    with ray_runtime(ray_settings) as ray:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        dataset = ray.data.from_arrow(blocks).map_batches(
            BatchScorer,
            fn_constructor_kwargs={"model_dir": model_dir.resolve(), "expected_sha256": sha256},
            batch_format="pyarrow",
            batch_size=None,
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(size=min(ray_settings.actors, len(blocks))),
            num_cpus=ray_settings.cpus_per_actor,
        )
        return [ray.get(ref) for ref in dataset.to_arrow_refs()]


# Design 2 (``ray.predict_scorers = "resident"``, the default): named, detached actors that outlive the job. The
# first job on a cluster starts them (one model load each); later jobs with the same model find them by name, so
# a job pays neither worker start-up, nor scikit-learn's imports, nor a model load. A Parquet file with row groups
# no larger than a block is read by the scorers themselves, each its own blocks (only the columns that are not
# features go through the driver); any other file, or a block a scorer cannot see (another node, no shared
# storage), is read by the driver and sent. Blocks start where the local engine's do (multiples of
# ``predict_batch_rows``): the same blocks give bit-for-bit the same floating point. An actor's name is keyed on
# the model's name, version and sha256 and on this module's code, so a job never reaches a scorer holding another
# model or running older code; a scorer left unused for ``ray.resident_idle_s`` exits and frees its CPU share.
RESIDENT_NAMESPACE = "insight"


@dataclass(frozen=True)
class ScorerIdentity:
    """What a resident scorer loaded (or why it could not)."""

    model_name: str
    model_version: str
    sha256: str
    problem: str | None = None


@dataclass(frozen=True)
class ParquetRows:
    """Rows ``start`` to ``stop`` of a Parquet file, which a scorer reads itself, and how to know the file."""

    path: str
    file_bytes: int
    group_rows: tuple[int, ...]
    start: int
    stop: int

    def read(self, columns: list[str], *, check_bytes: bool = True) -> pa.Table | None:
        """The rows' ``columns``, read from the row groups that hold them; None when this is not the file (its
        row groups differ, or its size: ``check_bytes=False`` for the driver, which planned from this path)."""
        try:
            parquet = pq.ParquetFile(self.path)
        except OSError:
            return None
        with parquet:
            metadata = parquet.metadata
            seen = tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
            if seen != self.group_rows or (check_bytes and Path(self.path).stat().st_size != self.file_bytes):
                return None
            ends = np.cumsum(seen)
            first = int(np.searchsorted(ends, self.start, side="right"))
            last = int(np.searchsorted(ends, self.stop - 1, side="right"))
            skipped = int(ends[first - 1]) if first > 0 else 0
            table = parquet.read_row_groups(list(range(first, last + 1)), columns=columns)
            return table.slice(self.start - skipped, self.stop - self.start)


def resident_scorer_name(meta: ModelMetadata, index: int) -> str:
    """Keyed on the model and on this module's code: a job never reaches a scorer of another model or release."""
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps([meta.name, meta.version, meta.sha256, code]).encode()).hexdigest()[:16]
    return f"predict-scorer-{key}-{index}"


class ResidentScorer:
    """One loaded model kept in a Ray actor between jobs; each call returns the output columns of one block.

    The artifact is hash-checked when the actor loads it, against the sha256 of the job that started the actor;
    a refusal is kept (``identity().problem``) for the job to report, instead of a crashed actor.
    """

    def __init__(self, model_dir: str, expected_sha256: str, idle_s: float) -> None:
        self._scorer: BatchScorer | None = None
        self._problem: str | None = None
        try:
            self._scorer = BatchScorer(Path(model_dir), expected_sha256)
        except InsightError as exc:
            self._problem = exc.message
        self._idle_s = idle_s
        self._last_used = time.monotonic()
        self._busy = False
        threading.Thread(target=self._exit_when_idle, name="exit-when-idle", daemon=True).start()

    def identity(self) -> ScorerIdentity:
        self._last_used = time.monotonic()
        if self._scorer is None:
            return ScorerIdentity("", "", "", self._problem or "no model loaded")
        meta = self._scorer.predictor.metadata
        return ScorerIdentity(meta.name, meta.version, meta.sha256)

    def score(self, features: pa.Table) -> pa.Table:
        self._busy = True
        try:
            return self._loaded().outputs(features)
        finally:
            self._busy, self._last_used = False, time.monotonic()

    def score_parquet_rows(self, block: ParquetRows) -> pa.Table | None:
        """The block's outputs, or None when this node does not see the job's file (the job sends the rows)."""
        self._busy = True
        try:
            scorer = self._loaded()
            features = block.read(scorer.predictor.metadata.feature_names)
            return None if features is None else scorer.outputs(features)
        finally:
            self._busy, self._last_used = False, time.monotonic()

    def _loaded(self) -> BatchScorer:
        if self._scorer is None:
            raise ModelIntegrityError(self._problem or "no model loaded")
        return self._scorer

    def _exit_when_idle(self) -> None:
        import ray

        while True:
            idle = 0.0 if self._busy else time.monotonic() - self._last_used
            if idle >= self._idle_s:
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return
            time.sleep(min(self._idle_s - idle + 0.05, 30.0))


class ResidentScorers:
    """The job's handles on the cluster's resident scorers for one model: found by name, or started."""

    def __init__(self, ray: ModuleType, settings: RaySettings, model_dir: Path, meta: ModelMetadata, size: int):
        self._ray = ray
        self._settings = settings
        self._model_dir = str(model_dir.resolve())
        self._meta = meta
        self._actor_class = ray.remote(ResidentScorer)
        self.handles = [self._obtain(index) for index in range(size)]
        self._check(list(self.handles))

    def submit(self, index: int, block: pa.Table | ParquetRows) -> Any:
        handle = self.handles[index % len(self.handles)]
        if isinstance(block, ParquetRows):
            return handle.score_parquet_rows.remote(block)
        return handle.score.remote(block)

    def result(self, index: int, ref: Any) -> pa.Table | None:
        """The call's result; a scorer that exited meanwhile (idle, or its worker died) is started again once."""
        ray = self._ray
        try:
            return cast("pa.Table | None", self._get(ref))
        except ray.exceptions.RayActorError:
            slot = index % len(self.handles)
            self.handles[slot] = self._obtain(slot)
            self._check([self.handles[slot]])
            raise _Resubmit from None

    def _get(self, refs: Any) -> Any:
        try:
            return self._ray.get(refs, timeout=self._settings.call_timeout_s)
        except self._ray.exceptions.GetTimeoutError:
            raise ConfigError(
                f"the Ray scorers did not answer within {self._settings.call_timeout_s:g} s: is the cluster short "
                f"of CPUs? (each scorer reserves ray.cpus_per_actor = {self._settings.cpus_per_actor:g})"
            ) from None

    def _obtain(self, index: int) -> Any:
        options: dict[str, Any] = {
            "name": resident_scorer_name(self._meta, index),
            "namespace": RESIDENT_NAMESPACE,
            "lifetime": "detached",
            "get_if_exists": True,
            "num_cpus": self._settings.cpus_per_actor,
            "max_restarts": 0,
        }
        return self._actor_class.options(**options).remote(
            self._model_dir, self._meta.sha256, self._settings.resident_idle_s
        )

    def _check(self, handles: list[Any]) -> None:
        """Every scorer holds the job's model (name, version, sha256); one that does not is retired and refused."""
        identities: list[ScorerIdentity] = self._get([h.identity.remote() for h in handles])
        meta = self._meta
        expected = (meta.name, meta.version, meta.sha256)
        for handle, identity in zip(handles, identities, strict=True):
            if identity.problem is None and (identity.model_name, identity.model_version, identity.sha256) == expected:
                continue
            self._ray.kill(handle, no_restart=True)
            raise ModelIntegrityError(
                identity.problem
                or f"a resident scorer holds {identity.model_name} v{identity.model_version} "
                f"({identity.sha256[:12]}…), not the job's {meta.name} v{meta.version}: run it again"
            )


class _Resubmit(Exception):
    """A scorer was started again: send the block once more."""


def score_on_resident_scorers(
    settings: RaySettings, blocks: list[pa.Table | ParquetRows], model_dir: Path, meta: ModelMetadata
) -> list[pa.Table]:
    """The output columns of each block, in block order (a row-group block its scorer cannot see is sent)."""
    with ray_runtime(settings, data=False) as ray:
        scorers = ResidentScorers(ray, settings, model_dir, meta, size=min(settings.actors, len(blocks)))
        refs = [scorers.submit(i, block) for i, block in enumerate(blocks)]
        outputs: list[pa.Table] = []
        for i, block in enumerate(blocks):
            try:
                output = scorers.result(i, refs[i])
            except _Resubmit:
                output = scorers.result(i, scorers.submit(i, block))  # a second exit in a row is raised
            if output is None:
                assert isinstance(block, ParquetRows)
                sent = block.read(meta.feature_names, check_bytes=False)
                if sent is None:
                    problem = FieldProblem(("path",), f"{block.path} changed during the job: run it again", "changed")
                    raise InvalidInput([problem])
                output = scorers.result(i, scorers.submit(i, sent))
            assert output is not None
            outputs.append(output)
        return outputs


def _predict_with_resident_scorers(
    settings: RaySettings, source: Path, model_dir: Path, scorer: BatchScorer
) -> pa.Table:
    """A Parquet file whose row groups are no larger than a block is read by the scorers, each its own blocks;
    any other file by the driver, and sent to them in blocks."""
    meta = scorer.predictor.metadata
    if file_format(source) == "parquet":
        with pq.ParquetFile(source) as parquet:
            schema, metadata = parquet.schema_arrow, parquet.metadata
        group_rows = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        if max(group_rows, default=0) <= settings.predict_batch_rows:  # a block reads at most two row groups
            _check_input(source, schema, metadata.num_rows, meta.feature_names)
            kept = [name for name in schema.names if name not in scorer.passthrough_exclude]
            carried = pq.read_table(source, columns=kept)
            blocks = _parquet_blocks(source, metadata, settings.predict_batch_rows)
            return _joined(carried, pa.concat_tables(score_on_resident_scorers(settings, blocks, model_dir, meta)))
    table = read_table(source)
    _check_input(source, table.schema, table.num_rows, meta.feature_names)
    kept = [name for name in table.column_names if name not in scorer.passthrough_exclude]
    features = table.select(meta.feature_names)
    step = settings.predict_batch_rows
    # combine_chunks: a slice sent as it is would carry its parent's whole buffers into the object store
    sent: list[pa.Table | ParquetRows] = [
        features.slice(at, step).combine_chunks() for at in range(0, table.num_rows, step)
    ]
    return _joined(table.select(kept), pa.concat_tables(score_on_resident_scorers(settings, sent, model_dir, meta)))


def _parquet_blocks(source: Path, metadata: Any, rows: int) -> list[pa.Table | ParquetRows]:
    """Blocks of ``rows`` rows at the local engine's boundaries (the same blocks give the same floating point)."""
    path, size = str(source.resolve()), source.stat().st_size
    group_rows = tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
    total = metadata.num_rows
    return [ParquetRows(path, size, group_rows, at, min(at + rows, total)) for at in range(0, total, rows)]
