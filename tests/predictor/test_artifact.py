import shutil
from pathlib import Path

import numpy as np
import pytest

from insight.errors import ModelIntegrityError, ModelNotLoaded
from insight.predictor.artifact import METADATA_FILE, MODEL_FILE, load_artifact, sha256_file
from insight.predictor.data import load_dataset
from insight.predictor.service import Predictor, PredictorSlot


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "predictor"
    shutil.copytree(trained_model_dir, target)
    return target


def test_metadata_records_the_hash_of_the_model_file(trained_model_dir: Path) -> None:
    pipeline, metadata = load_artifact(trained_model_dir)
    assert metadata.sha256 == sha256_file(trained_model_dir / MODEL_FILE)
    assert metadata.feature_names == load_dataset().feature_names
    assert pipeline.steps[-1][0] == "model"


def test_a_flipped_byte_is_refused_before_unpickling(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray((model_copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_copy / MODEL_FILE).write_bytes(bytes(data))

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("joblib.load must not run on a file that failed its hash check")

    monkeypatch.setattr("insight.predictor.artifact.joblib.load", never)
    with pytest.raises(ModelIntegrityError, match=r"refusing to load .*model\.joblib: its sha256 is"):
        load_artifact(model_copy)


def test_missing_model_dir_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ModelNotLoaded, match="run `insight train` first"):
        load_artifact(tmp_path / "nothing-here")


def test_missing_model_file_is_reported(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelNotLoaded, match="model.joblib is missing"):
        load_artifact(model_copy)


def test_unreadable_metadata_is_an_integrity_error(model_copy: Path) -> None:
    (model_copy / METADATA_FILE).write_text('{"name": 3}')
    with pytest.raises(ModelIntegrityError, match="not valid model metadata"):
        load_artifact(model_copy)


def test_slot_keeps_the_reason_a_model_is_missing(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).write_bytes(b"not a model")
    slot = PredictorSlot.from_dir(model_copy)
    assert slot.predictor is None
    with pytest.raises(ModelNotLoaded, match="refusing to load"):
        slot.require()


def test_predictions_come_from_one_call_and_match_the_pipeline(trained_model_dir: Path) -> None:
    predictor = Predictor.load(trained_model_dir)
    data = load_dataset()
    rows = data.features[:50]
    result = predictor.predict(rows)
    pipeline, _ = load_artifact(trained_model_dir)
    expected = pipeline.predict_proba(rows)
    np.testing.assert_allclose(result.probabilities, expected)
    assert result.classes.tolist() == expected.argmax(axis=1).tolist()
    assert result.labels == [data.class_labels[c] for c in result.classes]
    assert np.all((result.confidence >= 0.5) & (result.confidence <= 1.0))
    # the served model is genuinely predictive on its own training data
    assert (result.classes == data.target[:50]).mean() > 0.9
