"""predict-batch on Ray's resident scorers (design 2): the local engine's output, kept between jobs, hash-checked."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from insight.bulk.predict import (
    RESIDENT_NAMESPACE,
    ParquetRows,
    predict_file,
    resident_scorer_name,
    score_on_resident_scorers,
)
from insight.config import RaySettings
from insight.errors import ModelIntegrityError
from insight.predictor.artifact import ModelMetadata
from insight.predictor.service import Predictor
from tests.bulk.test_predict_batch import generated_rows
from tests.conftest import make_settings

ROWS = 1_000
pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")]


def resident(**overrides: object) -> RaySettings:
    fields: dict[str, object] = {"actors": 2, "predict_batch_rows": 250, "call_timeout_s": 120, **overrides}
    return RaySettings(predict_scorers="resident", **fields)  # type: ignore[arg-type]


def scorer_ids(ray: ModuleType, model_dir: Path, meta: ModelMetadata | None = None) -> list[str | None]:
    """The actor id behind each resident scorer's name for this model, None where there is none."""
    meta = meta or Predictor.load(model_dir).metadata
    ids: list[str | None] = []
    for index in range(2):
        try:
            handle = ray.get_actor(resident_scorer_name(meta, index), namespace=RESIDENT_NAMESPACE)
        except ValueError:
            ids.append(None)
        else:
            ids.append(handle._actor_id.hex())
    return ids


def own_model(trained_model_dir: Path, tmp_path: Path, version: str) -> Path:
    """A copy of the model under another version: its scorers are its own (names are keyed on the version)."""
    model_dir = tmp_path / "predictor"
    shutil.copytree(trained_model_dir, model_dir)
    meta = json.loads((model_dir / "metadata.json").read_text())
    (model_dir / "metadata.json").write_text(json.dumps({**meta, "version": version}))
    return model_dir


@pytest.fixture
def rows_table() -> pa.Table:
    return generated_rows(ROWS)


@pytest.mark.parametrize("layout", ["csv", "parquet, one row group", "parquet, row groups read by the scorers"])
def test_resident_scorers_give_the_local_output_in_input_order(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_table: pa.Table, layout: str
) -> None:
    source = tmp_path / ("rows.csv" if layout == "csv" else "rows.parquet")
    if layout == "csv":
        pa_csv.write_csv(rows_table, source)
    else:
        pq.write_table(rows_table, source, row_group_size=ROWS if "one" in layout else 200)
    settings = make_settings(tmp_path, trained_model_dir, ray=resident())
    predict_file(settings, source, tmp_path / "local.parquet", engine="local")
    report = predict_file(settings, source, tmp_path / "ray.parquet", engine="ray")
    scored = pq.read_table(tmp_path / "ray.parquet")
    assert report.engine == "ray" and report.rows == ROWS
    assert scored.equals(pq.read_table(tmp_path / "local.parquet"))
    assert scored.column("row_id").to_pylist() == rows_table.column("row_id").to_pylist()
    assert ray_cluster.is_initialized()  # joined the running Ray, left it running


def test_a_second_job_finds_the_same_scorers(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_table: pa.Table
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(rows_table, source, row_group_size=200)
    settings = make_settings(tmp_path, trained_model_dir, ray=resident())
    predict_file(settings, source, tmp_path / "first.parquet", engine="ray")
    first = scorer_ids(ray_cluster, trained_model_dir)
    predict_file(settings, source, tmp_path / "second.parquet", engine="ray")
    assert None not in first and scorer_ids(ray_cluster, trained_model_dir) == first
    assert pq.read_table(tmp_path / "second.parquet").equals(pq.read_table(tmp_path / "first.parquet"))


def test_idle_scorers_exit_and_the_next_job_starts_them_again(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_table: pa.Table
) -> None:
    model_dir = own_model(trained_model_dir, tmp_path, "7-idle")  # no other test's scorers are touched
    source = tmp_path / "rows.parquet"
    pq.write_table(rows_table, source, row_group_size=200)
    settings = make_settings(tmp_path, model_dir, ray=resident(resident_idle_s=1.0))
    predict_file(settings, source, tmp_path / "first.parquet", engine="ray")
    deadline = time.monotonic() + 60
    while scorer_ids(ray_cluster, model_dir) != [None, None] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert scorer_ids(ray_cluster, model_dir) == [None, None]
    predict_file(settings, source, tmp_path / "second.parquet", engine="ray")
    assert pq.read_table(tmp_path / "second.parquet").equals(pq.read_table(tmp_path / "first.parquet"))


def test_a_block_its_scorer_cannot_see_is_sent_to_it(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_table: pa.Table
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(rows_table, source, row_group_size=500)
    predictor = Predictor.load(trained_model_dir)
    size = source.stat().st_size
    blocks: list[pa.Table | ParquetRows] = [
        ParquetRows(str(source), size, (500, 500), 0, 500),
        ParquetRows(str(source), size + 1, (500, 500), 500, 1000),  # "another file" where the scorer looks
    ]
    outputs = score_on_resident_scorers(resident(actors=1), blocks, trained_model_dir, predictor.metadata)
    expected = predictor.predict(generated_rows(ROWS).select(predictor.feature_names).to_pandas().to_numpy())
    assert [table.num_rows for table in outputs] == [500, 500]
    assert pa.concat_tables(outputs).column("prediction").to_pylist() == expected.classes.tolist()


def test_a_scorer_refuses_an_artifact_changed_after_the_jobs_check(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_table: pa.Table
) -> None:
    model_dir = own_model(trained_model_dir, tmp_path, "7-changed")
    meta = Predictor.load(model_dir).metadata  # the job's check passed
    with (model_dir / "model.joblib").open("ab") as model_file:
        model_file.write(b"\0")  # then the file changed before the scorers loaded it
    features = rows_table.select(meta.feature_names)
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        score_on_resident_scorers(resident(), [features], model_dir, meta)
    deadline = time.monotonic() + 30  # the refusing scorer is retired, not left holding the name
    while scorer_ids(ray_cluster, model_dir, meta) != [None, None] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scorer_ids(ray_cluster, model_dir, meta) == [None, None]
