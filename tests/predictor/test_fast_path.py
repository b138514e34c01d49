"""The predictor's NumPy path must be scikit-learn's predict_proba, or not be used at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from insight.predictor.artifact import load_artifact
from insight.predictor.config import ModelConfig
from insight.predictor.data import load_dataset, split_dataset
from insight.predictor.pipeline import build_pipeline
from insight.predictor.service import INLINE_MAX_ROWS, Predictor
from tests.conftest import MODEL_CONFIG


def perturbed_rows(n: int) -> np.ndarray:
    data = load_dataset().features
    rng = np.random.default_rng(1)
    return data[rng.integers(0, len(data), n)] * rng.normal(1.0, 0.1, (n, data.shape[1]))


def test_fast_path_equals_predict_proba(trained_model_dir: Path) -> None:
    predictor = Predictor.load(trained_model_dir)
    pipeline, _ = load_artifact(trained_model_dir)
    assert predictor.is_fast(1) and predictor.is_fast(INLINE_MAX_ROWS)
    rows = perturbed_rows(5000)
    np.testing.assert_allclose(predictor.predict(rows).probabilities, pipeline.predict_proba(rows), rtol=0, atol=1e-12)
    one = rows[:1]
    np.testing.assert_allclose(predictor.predict(one).probabilities, pipeline.predict_proba(one), rtol=0, atol=1e-12)


def test_large_batches_are_not_inline(trained_model_dir: Path) -> None:
    assert not Predictor.load(trained_model_dir).is_fast(INLINE_MAX_ROWS + 1)


def test_missing_values_go_through_scikit_learn_imputation(trained_model_dir: Path) -> None:
    predictor = Predictor.load(trained_model_dir)
    pipeline, _ = load_artifact(trained_model_dir)
    rows = perturbed_rows(3)
    rows[1, 4] = np.nan
    np.testing.assert_allclose(predictor.predict(rows).probabilities, pipeline.predict_proba(rows))


def test_other_estimators_use_scikit_learn(trained_model_dir: Path) -> None:
    raw = yaml.safe_load(MODEL_CONFIG.read_text())
    raw["model"] = {"estimator": "random_forest", "params": {"n_estimators": 10}}
    config = ModelConfig.model_validate(raw)
    data = load_dataset()
    split = split_dataset(data, config.test_size, config.random_state)
    pipeline = build_pipeline(config).fit(split.train_x, split.train_y)
    _, metadata = load_artifact(trained_model_dir)
    predictor = Predictor(pipeline, metadata.model_copy(update={"estimator": "random_forest"}))
    assert not predictor.is_fast(1)
    rows = perturbed_rows(20)
    np.testing.assert_array_equal(predictor.predict(rows).probabilities, pipeline.predict_proba(rows))
