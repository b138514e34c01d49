"""``insight predict-batch IN OUT``: a CSV or Parquet file scored by the served predictor, locally or on Ray.

The artifact is hash-checked where it is loaded: once by the local engine, once per actor on Ray, and every
actor must load the artifact the job started with (the sha256 recorded in its metadata), so a model swapped
mid-job is refused rather than mixed in. Each batch is one vectorised ``Predictor.predict`` call. Output rows
follow input rows; the columns that are not features (ids, keys) are carried through, then ``prediction``,
``label``, ``confidence`` (a regression model: ``prediction`` only) and ``model_version``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from insight.config import Settings
from insight.errors import FieldProblem, InvalidInput, ModelIntegrityError
from insight.predictor.data import FloatMatrix
from insight.predictor.service import Predictor

from .engine import Engine, ray_runtime

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
        self._passthrough_exclude = set(meta.feature_names) | set(OUTPUT_COLUMNS)

    def __call__(self, batch: pa.Table) -> pa.Table:
        meta = self.predictor.metadata
        result = self.predictor.predict(feature_matrix(batch, meta.feature_names))
        kept = [name for name in batch.column_names if name not in self._passthrough_exclude]
        columns = {name: batch.column(name) for name in kept}
        if meta.task == "regression":
            columns["prediction"] = pa.array(result.values, type=pa.float64())
        else:
            columns["prediction"] = pa.array(result.classes, type=pa.int64())
            columns["label"] = self._labels.take(pa.array(result.classes))
            columns["confidence"] = pa.array(result.confidence, type=pa.float64())
        columns["model_version"] = pa.array(np.full(batch.num_rows, meta.version, dtype=object), pa.string())
        return pa.table(columns)


def predict_file(settings: Settings, source: Path, target: Path, engine: Engine = "local") -> BatchReport:
    """Score every row of ``source`` into ``target`` (each .csv or .parquet)."""
    file_format(target)
    model_dir = settings.predictor.model_dir
    scorer = BatchScorer(model_dir)  # checks the artifact (and the input's columns) before any engine starts
    meta = scorer.predictor.metadata
    started = time.perf_counter()
    table = read_table(source)
    feature_matrix(table.slice(0, 1), meta.feature_names)  # a missing or text column is refused up front
    if table.num_rows == 0:
        raise InvalidInput([FieldProblem(("rows",), f"{source.name} holds no rows", "too_short")])
    step = settings.ray.predict_batch_rows
    if engine == "local":
        parts = [scorer(table.slice(at, step)) for at in range(0, table.num_rows, step)]
    else:
        parts = _predict_on_ray(settings, table, model_dir, meta.sha256)
    scored = pa.concat_tables(parts)
    write_table(scored, target)
    return BatchReport(
        rows=table.num_rows,
        seconds=time.perf_counter() - started,
        engine=engine,
        model_name=meta.name,
        model_version=meta.version,
    )


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
