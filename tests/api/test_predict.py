"""The predict routes: good input, and every kind of bad input with its status and message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from insight.api.app import create_app
from insight.api.schemas.predict import EXAMPLE_BENIGN, EXAMPLE_MALIGNANT
from insight.predictor.artifact import MODEL_FILE
from insight.predictor.data import load_dataset
from insight.predictor.service import Predictor
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings

FEATURES = load_dataset().feature_names


def detail(response: Any) -> list[tuple[list[Any], str]]:
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    return [(d["loc"], d["msg"]) for d in body["detail"]]


def test_predict_one_instance_as_a_list(client: TestClient) -> None:
    response = client.post("/api/v1/predict", json={"features": EXAMPLE_MALIGNANT})
    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] == 0 and body["label"] == "malignant"
    assert 0.5 <= body["confidence"] <= 1.0
    assert body["model"] == {"name": "insight-predictor", "version": "7", "task": "classification"}


def test_predict_one_instance_as_a_mapping(client: TestClient) -> None:
    mapping = dict(zip(FEATURES, EXAMPLE_BENIGN, strict=True))
    response = client.post("/api/v1/predict", json={"features": mapping})
    assert response.status_code == 200
    assert response.json()["label"] == "benign"


def test_batch_matches_the_model_row_for_row(client: TestClient, trained_model_dir: Path) -> None:
    data = load_dataset()
    rows = data.features[100:160]
    response = client.post("/api/v1/predict/batch", json={"instances": rows.tolist()})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = Predictor.load(trained_model_dir).predict(rows)
    assert [p["prediction"] for p in predictions] == expected.classes.tolist()
    np.testing.assert_allclose([p["confidence"] for p in predictions], expected.confidence)
    assert response.json()["model"]["version"] == "7"


def test_batch_is_one_vectorised_call(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    original = Predictor.predict

    def spy(self: Predictor, matrix: np.ndarray) -> Any:
        calls.append(matrix.shape)
        return original(self, matrix)

    monkeypatch.setattr(Predictor, "predict", spy)
    rows = load_dataset().features[:250].tolist()
    assert client.post("/api/v1/predict/batch", json={"instances": rows}).status_code == 200
    assert calls == [(250, 30)]


def test_batch_accepts_mixed_lists_and_mappings(client: TestClient) -> None:
    instances = [EXAMPLE_MALIGNANT, dict(zip(FEATURES, EXAMPLE_BENIGN, strict=True))]
    response = client.post("/api/v1/predict/batch", json={"instances": instances})
    assert [p["label"] for p in response.json()["predictions"]] == ["malignant", "benign"]


def post_raw(client: TestClient, path: str, body: str) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"features": EXAMPLE_MALIGNANT[:29]},
            (["body", "features"], "expected 30 feature values in schema order, got 29"),
        ),
        (
            {"features": {**dict(zip(FEATURES, EXAMPLE_BENIGN, strict=True)), "age": 3}},
            (["body", "features", "age"], "unknown feature 'age'"),
        ),
        (
            {"features": dict(zip(FEATURES[1:], EXAMPLE_BENIGN[1:], strict=True))},
            (["body", "features", "mean radius"], "missing feature 'mean radius'"),
        ),
        (
            {"features": ["big", *EXAMPLE_BENIGN[1:]]},
            (["body", "features", 0], "feature 'mean radius' must be a number, got string 'big'"),
        ),
        ({"features": EXAMPLE_BENIGN, "extra": 1}, (["body", "extra"], "unknown field")),
        ({}, (["body", "features"], "field required")),
    ],
)
def test_single_predict_bad_input_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], expected: tuple[list[Any], str]
) -> None:
    response = client.post("/api/v1/predict", json=body)
    assert response.status_code == 422
    assert expected in detail(response)


@pytest.mark.parametrize(
    ("literal", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e999", "inf")]
)
def test_non_finite_values_are_422_naming_the_feature(client: TestClient, literal: str, shown: str) -> None:
    values = [json.dumps(v) for v in EXAMPLE_BENIGN]
    values[3] = literal
    body = f'{{"instances": [{json.dumps(EXAMPLE_BENIGN)}, [{", ".join(values)}]]}}'
    response = post_raw(client, "/api/v1/predict/batch", body)
    assert response.status_code == 422
    assert detail(response) == [
        (["body", "instances", 1, 3], f"feature 'mean area' must be a finite number, got {shown}")
    ]


@pytest.mark.parametrize(
    ("body", "status", "loc", "msg_part"),
    [
        ('{"instances": []}', 422, ["body", "instances"], "must hold at least one instance"),
        ('{"instances": [[1, 2]]}', 422, ["body", "instances", 0], "expected 30 feature values"),
        ('{"instances": "rows"}', 422, ["body", "instances"], "must be a list of instances"),
        ('{"instances": [1, 2]', 422, ["body"], "body is not valid JSON"),
        ("[1, 2]", 422, ["body"], "body must be a JSON object"),
        ("", 422, ["body"], "body is not valid JSON"),
    ],
)
def test_batch_bad_input(client: TestClient, body: str, status: int, loc: list[Any], msg_part: str) -> None:
    response = post_raw(client, "/api/v1/predict/batch", body)
    assert response.status_code == status
    (got_loc, got_msg), *_ = detail(response)
    assert got_loc == loc and msg_part in got_msg


def test_batch_over_the_configured_maximum(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    settings.predictor.max_batch_rows = 10
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        response = client.post("/api/v1/predict/batch", json={"instances": [EXAMPLE_BENIGN] * 11})
    assert response.status_code == 422
    assert detail(response) == [(["body", "instances"], "holds 11 instances; at most 10 are allowed per request")]


def test_body_over_the_size_limit_is_413(trained_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model_dir=trained_model_dir)
    settings.api.max_body_bytes = 2048
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        response = client.post("/api/v1/predict/batch", json={"instances": [EXAMPLE_BENIGN] * 20})
    assert response.status_code == 413
    assert response.json()["message"].endswith("the limit is 2048")


def test_no_model_is_503_with_the_reason(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path), build=build_with_fakes)) as client:
        response = client.post("/api/v1/predict", json={"features": EXAMPLE_BENIGN})
        ready = client.get("/ready")
    assert response.status_code == 503
    assert "run `insight train` first" in response.json()["message"]
    assert ready.status_code == 503
    assert ready.json()["parts"]["predictor"]["status"] == "error"


def test_corrupted_model_is_refused_at_startup(trained_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "predictor"
    shutil.copytree(trained_model_dir, model_dir)
    with (model_dir / MODEL_FILE).open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x00\x00\x00")
    with TestClient(create_app(make_settings(tmp_path, model_dir=model_dir), build=build_with_fakes)) as client:
        ready = client.get("/ready").json()
        response = client.post("/api/v1/predict/batch", json={"instances": [EXAMPLE_BENIGN]})
    assert ready["ready"] is False
    assert "refusing to load" in ready["parts"]["predictor"]["detail"]
    assert response.status_code == 503
    assert response.json()["code"] == "model_not_loaded"
    assert "sha256" in response.json()["message"]


def test_model_info_lists_the_feature_schema(client: TestClient) -> None:
    info = client.get("/api/v1/model").json()
    assert info["feature_names"] == FEATURES
    assert info["class_labels"] == ["malignant", "benign"]
    assert info["version"] == "7"
    assert len(info["sha256"]) == 64
