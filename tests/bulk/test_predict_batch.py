"""``predict-batch``: file in, file out, in input order, each row with the model version; Ray gives the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from insight.bulk.predict import BatchScorer, feature_matrix, predict_file, read_table
from insight.cli import app
from insight.config import RaySettings
from insight.errors import InvalidInput, ModelIntegrityError
from insight.predictor.data import load_dataset
from insight.predictor.service import Predictor
from tests.conftest import make_settings

ROWS = 1_000
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # Ray's own deprecations


def generated_rows(n: int, seed: int = 0) -> pa.Table:
    """Rows drawn around the training data: each a real row with its features jittered by 5 %."""
    data = load_dataset()
    rng = np.random.default_rng(seed)
    picks = data.features[rng.integers(0, len(data.features), n)]
    features = picks * rng.normal(1.0, 0.05, size=picks.shape)
    columns: dict[str, object] = {"row_id": [f"r{i:05d}" for i in range(n)]}
    columns.update({name: features[:, j] for j, name in enumerate(data.feature_names)})
    return pa.table(columns)


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    pa_csv.write_csv(generated_rows(ROWS), path)
    return path


def test_scores_every_row_in_input_order_with_the_model_version(
    trained_model_dir: Path, tmp_path: Path, rows_csv: Path
) -> None:
    settings = make_settings(tmp_path, trained_model_dir, ray=RaySettings(predict_batch_rows=300))
    report = predict_file(settings, rows_csv, tmp_path / "scored.parquet")
    scored = pq.read_table(tmp_path / "scored.parquet")
    source = read_table(rows_csv)
    predictor = Predictor.load(trained_model_dir)
    expected = predictor.predict(feature_matrix(source, predictor.feature_names))
    assert report.rows == ROWS and report.model_version == "7"
    assert scored.column_names == ["row_id", "prediction", "label", "confidence", "model_version"]
    assert scored.column("row_id").to_pylist() == source.column("row_id").to_pylist()
    assert scored.column("prediction").to_pylist() == expected.classes.tolist()
    assert scored.column("label").to_pylist() == expected.labels
    np.testing.assert_array_equal(scored.column("confidence").to_numpy(), expected.confidence)
    assert set(scored.column("model_version").to_pylist()) == {"7"}


def test_missing_values_are_imputed_and_csv_out_reads_back(trained_model_dir: Path, tmp_path: Path) -> None:
    table = generated_rows(20)
    first = table.column_names[1]
    table = table.set_column(1, first, pa.array([None, *table.column(first).to_pylist()[1:]], pa.float64()))
    source = tmp_path / "gaps.parquet"
    pq.write_table(table, source)
    predict_file(make_settings(tmp_path, trained_model_dir), source, tmp_path / "out.csv")
    scored = pa_csv.read_csv(tmp_path / "out.csv")
    assert scored.num_rows == 20
    assert scored.column("confidence").null_count == 0


def test_bad_input_is_refused_with_the_column_named(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, trained_model_dir)
    table = generated_rows(5)
    missing = tmp_path / "missing.parquet"
    pq.write_table(table.drop_columns(["mean radius"]), missing)
    with pytest.raises(InvalidInput) as caught:
        predict_file(settings, missing, tmp_path / "out.parquet")
    assert ("columns", "mean radius") in [p.loc for p in caught.value.problems]
    text = tmp_path / "text.parquet"
    pq.write_table(table.set_column(1, "mean radius", pa.array(["big"] * 5)), text)
    with pytest.raises(InvalidInput, match="numeric"):
        predict_file(settings, text, tmp_path / "out.parquet")
    with pytest.raises(InvalidInput, match=r"\.csv or \.parquet"):
        predict_file(settings, missing, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.parquet").exists()


def test_an_artifact_other_than_the_jobs_is_refused(trained_model_dir: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="changed during the job"):
        BatchScorer(trained_model_dir, expected_sha256="0" * 64)


def test_a_tampered_artifact_is_never_loaded(trained_model_dir: Path, tmp_path: Path, rows_csv: Path) -> None:
    model_dir = tmp_path / "predictor"
    shutil.copytree(trained_model_dir, model_dir)
    meta = json.loads((model_dir / "metadata.json").read_text())
    (model_dir / "metadata.json").write_text(json.dumps({**meta, "sha256": "f" * 64}))
    result = CliRunner().invoke(app, ["predict-batch", str(rows_csv), str(tmp_path / "o.csv")], env={
        "INSIGHT_PREDICTOR__MODEL_DIR": str(model_dir)})  # fmt: skip
    assert result.exit_code == 1
    assert "refusing to load" in result.output


def test_cli_scores_a_file_and_rejects_an_unknown_engine(
    trained_model_dir: Path, tmp_path: Path, rows_csv: Path
) -> None:
    env = {"INSIGHT_PREDICTOR__MODEL_DIR": str(trained_model_dir)}
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(app, ["predict-batch", str(rows_csv), str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert f"{ROWS} rows scored" in result.output
    assert pa_csv.read_csv(out).num_rows == ROWS
    bad = CliRunner().invoke(app, ["predict-batch", str(rows_csv), str(out), "--engine", "spark"], env=env)
    assert bad.exit_code == 2
    assert "engine must be one of local, ray" in bad.output


@pytest.mark.integration
@pytest.mark.parametrize("scorers", ["per_job", "resident"])
def test_ray_engine_gives_the_local_output(
    ray_cluster: ModuleType, trained_model_dir: Path, tmp_path: Path, rows_csv: Path, scorers: str
) -> None:
    ray = RaySettings(predict_batch_rows=250, actors=2, predict_scorers=scorers)  # type: ignore[arg-type]
    settings = make_settings(tmp_path, trained_model_dir, ray=ray)
    predict_file(settings, rows_csv, tmp_path / "local.parquet", engine="local")
    report = predict_file(settings, rows_csv, tmp_path / "ray.parquet", engine="ray")
    assert report.engine == "ray" and report.rows == ROWS
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))
    assert ray_cluster.is_initialized()  # the job joined the running Ray and left it running


def test_a_regression_model_writes_its_values(tmp_path: Path) -> None:
    from insight.predictor.artifact import ModelMetadata, save_artifact
    from insight.predictor.config import load_model_config
    from insight.predictor.pipeline import build_pipeline
    from tests.conftest import REPO_ROOT

    config = load_model_config(REPO_ROOT / "configs" / "diabetes_regression.yaml")
    data = load_dataset("diabetes")
    pipeline = build_pipeline(config).fit(data.features, data.target)
    metadata = ModelMetadata.model_validate(
        {"name": "diabetes", "version": "3", "task": "regression", "created_at": "2026-12-03T00:00:00Z",
         "estimator": config.model.estimator, "params": {}, "feature_names": data.feature_names, "class_labels": [],
         "metrics": {}, "cv_metrics": {}, "targets": {}, "mlflow_run_id": None, "data_digest": data.digest,
         "dataset": "diabetes", "n_train": 1, "n_test": 1, "config_sha256": "", "sklearn_version": ""}
    )  # fmt: skip
    save_artifact(pipeline, metadata, tmp_path / "diabetes")
    source = tmp_path / "rows.csv"
    pa_csv.write_csv(pa.table({n: data.features[:50, j] for j, n in enumerate(data.feature_names)}), source)
    predict_file(make_settings(tmp_path, tmp_path / "diabetes"), source, tmp_path / "out.parquet")
    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored.column_names == ["prediction", "model_version"]
    expected = Predictor.load(tmp_path / "diabetes").predict(data.features[:50]).values
    np.testing.assert_allclose(scored.column("prediction").to_numpy(), expected)
