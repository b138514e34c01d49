from pathlib import Path

import pytest

from insight.errors import ConfigError
from insight.predictor.config import load_model_config
from insight.predictor.pipeline import build_pipeline, search_distributions
from tests.conftest import MODEL_CONFIG


def test_shipped_config_fixes_the_seed_targets() -> None:
    config = load_model_config(MODEL_CONFIG)
    assert config.targets == {"accuracy": 0.85, "f1": 0.80, "roc_auc": 0.85}
    assert len(config.sha256) == 64


def test_pipeline_keeps_preprocessing_inside() -> None:
    pipeline = build_pipeline(load_model_config(MODEL_CONFIG))
    assert [name for name, _ in pipeline.steps] == ["impute", "scale", "model"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model_config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets: {accuracy: 1.5}", "targets: Value error, target accuracy=1.5 must lie in [0, 1]"),
        ("targets: {accuracy: 0.9}\nmodel: {estimator: svm}", "model.estimator: Input should be"),
        ("targets: {}", "targets: Dictionary should have at least 1 item"),
        ("targets: {accuracy: 0.9}\nsurprise: 1", "surprise: Extra inputs are not permitted"),
        (
            "targets: {accuracy: 0.9}\nsearch: {space: {C: [1]}}",
            "must address the model: model__<param>",
        ),
        (
            "targets: {accuracy: 0.9}\nsearch: {space: {model__C: {gamma: [1, 2]}}}",
            "unknown distribution 'gamma'",
        ),
        ("[1, 2]", "must be a mapping"),
        ("a: [", "is not valid YAML"),
    ],
)
def test_invalid_config_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_model_config(path)
    assert str(path) in exc.value.message
    assert message in exc.value.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read model config"):
        load_model_config(tmp_path / "absent.yaml")


def test_params_that_do_not_fit_the_estimator(tmp_path: Path) -> None:
    config = load_model_config(write(tmp_path, "targets: {accuracy: 0.9}\nmodel: {params: {depth: 3}}"))
    with pytest.raises(ConfigError, match="model.params do not fit logistic_regression"):
        build_pipeline(config)


def test_search_space_becomes_distributions() -> None:
    space = search_distributions(
        {"model__C": {"loguniform": [0.01, 10]}, "model__x": {"uniform": [2, 5]}, "model__k": [1, 2]}
    )
    assert 0.01 <= space["model__C"].rvs(random_state=0) <= 10
    assert 2 <= space["model__x"].rvs(random_state=0) <= 5
    assert space["model__k"] == [1, 2]
