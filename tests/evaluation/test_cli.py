"""``insight eval``: exit 0 when every target is met, 1 when one is missed, 2 when the run cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from insight.cli import app
from tests.conftest import MODEL_CONFIG
from tests.evaluation.conftest import write_suite

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_model_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHT_PREDICTOR__CONFIG_PATH", str(MODEL_CONFIG))
    monkeypatch.setenv("INSIGHT_PREDICTOR__MODEL_DIR", str(trained_model_dir))
    monkeypatch.setenv("INSIGHT_TRACKING__URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("INSIGHT_TRACKING__ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    monkeypatch.setenv("INSIGHT_EVALUATION__SUITES_DIR", str(tmp_path / "suites"))
    monkeypatch.setenv("INSIGHT_EVALUATION__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INSIGHT_EVALUATION__BOOTSTRAP_SAMPLES", "300")
    for name, target in (("reachable", 0.85), ("unreachable", 0.9999)):
        write_suite(
            tmp_path / "suites",
            name=name,
            kind="predictor",
            metrics=["accuracy", "f1"],
            targets=[{"metric": "accuracy", "op": ">=", "value": target}, {"metric": "f1", "op": ">=", "value": 0.8}],
        )
    return tmp_path


def test_exit_codes_follow_the_gate(env: Path) -> None:
    passed = runner.invoke(app, ["eval", "run", "reachable"])
    assert passed.exit_code == 0, passed.output
    assert "all targets met" in passed.output and "MLflow run" in passed.output
    assert "accuracy" in passed.output and "pass" in passed.output

    missed = runner.invoke(app, ["eval", "run", "unreachable", "--no-track"])
    assert missed.exit_code == 1, missed.output
    assert "MISS" in missed.output and "targets missed" in missed.output

    unknown = runner.invoke(app, ["eval", "run", "nope"])
    assert unknown.exit_code == 2
    assert "no suite 'nope'" in unknown.output


def test_list_and_compare(env: Path) -> None:
    listed = runner.invoke(app, ["eval", "list"])
    assert listed.exit_code == 0 and "reachable" in listed.output and "unreachable" in listed.output

    nothing = runner.invoke(app, ["eval", "compare", "reachable"])
    assert nothing.exit_code == 1 and "no tracked runs" in nothing.output
    assert runner.invoke(app, ["eval", "run", "reachable"]).exit_code == 0
    compared = runner.invoke(app, ["eval", "compare", "reachable"])
    assert compared.exit_code == 0, compared.output
    assert "reachable (pass)" in compared.output and "comparison.png" in compared.output

    assert runner.invoke(app, ["eval", "run", "unreachable"]).exit_code == 1  # tracked, its gate failed
    both = runner.invoke(app, ["eval", "compare", "reachable", "unreachable"])
    assert both.exit_code == 0, both.output
    assert "reachable vs unreachable" in both.output
    assert "reachable (pass)" in both.output and "unreachable (fail)" in both.output
    accuracy_row = next(line for line in both.output.splitlines() if "accuracy" in line)
    assert ">= 0.85 / >= 0.9999" in accuracy_row  # each suite's own target


def test_unreachable_tracking_is_reported_not_a_traceback(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_TRACKING__URI", "http://127.0.0.1:9")

    async def not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the suite ran before tracking was checked")

    monkeypatch.setattr("insight.evaluation.runner.Evaluator.run", not_run)
    result = runner.invoke(app, ["eval", "run", "reachable"])
    assert result.exit_code == 2, result.output
    assert "MLflow tracking at http://127.0.0.1:9" in result.output  # refused before the suite ran, not after
