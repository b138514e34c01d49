"""``insight ask-table``: the plan, the values and the sentence; unsupported questions exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insight.cli import app

runner = CliRunner()


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSIGHT_LLM__PROVIDER", "none")
    path = tmp_path / "fares.csv"
    path.write_text("Fare,Age\n7.25,22\n71.28,38\n8.05,35\n")
    return path


def test_prints_plan_values_and_sentence(table: Path) -> None:
    result = runner.invoke(app, ["ask-table", str(table), "@mean_fare[x] rounded to two decimal places"])
    assert result.exit_code == 0, result.output
    assert "1. mean_fare = aggregate(column='Fare', fn='mean', round=2)" in result.output
    assert "mean_fare = 28.86" in result.output and "planned by rules" in result.output


def test_json_is_the_answer(table: Path) -> None:
    result = runner.invoke(app, ["ask-table", str(table), "@max_age[x]", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["values"][0] == {"name": "max_age", "value": 38.0, "text": "38"}


def test_unsupported_exits_1_with_the_reason(table: Path) -> None:
    result = runner.invoke(app, ["ask-table", str(table), "Train a classifier", "--no-model"])
    assert result.exit_code == 1 and "not answered" in result.output


def test_missing_file_exits_2(tmp_path: Path, table: Path) -> None:
    assert runner.invoke(app, ["ask-table", str(tmp_path / "nope.csv"), "@m[x]"]).exit_code == 2
