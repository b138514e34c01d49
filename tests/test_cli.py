from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from insight.cli import app
from insight.predictor.artifact import read_metadata
from tests.conftest import MODEL_CONFIG

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHT_PREDICTOR__CONFIG_PATH", str(MODEL_CONFIG))
    monkeypatch.setenv("INSIGHT_PREDICTOR__MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("INSIGHT_TRACKING__URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("INSIGHT_TRACKING__ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    return tmp_path


@pytest.mark.integration
def test_train_prints_the_target_table_and_serves(env: Path) -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "pass" in result.output
    assert "served insight-predictor v1" in result.output
    metadata = read_metadata(env / "model")

    card = runner.invoke(app, ["model-card", "--output", str(env / "CARD.md")])
    assert card.exit_code == 0, card.output
    text = (env / "CARD.md").read_text()
    assert f"| accuracy | {metadata.metrics['accuracy']:.4f} |" in text
    assert metadata.sha256 in text and str(metadata.mlflow_run_id) in text


@pytest.mark.integration
def test_train_exits_non_zero_when_a_target_is_missed(env: Path) -> None:
    config = yaml.safe_load(MODEL_CONFIG.read_text())
    config["targets"]["roc_auc"] = 1.0
    strict = env / "strict.yaml"
    strict.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", "--config", str(strict)])
    assert result.exit_code == 1
    assert "MISS" in result.output
    assert "targets missed (roc_auc)" in result.output
    assert not (env / "model").exists()


def test_model_card_without_a_model_says_what_to_do(env: Path) -> None:
    result = runner.invoke(app, ["model-card"])
    assert result.exit_code == 1
    assert "run `insight train` first" in result.output


def test_invalid_settings_exit_2_naming_the_variable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_API__PORT", "nope")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "INSIGHT_API__PORT" in result.output


def test_bad_model_config_is_reported_not_raised(env: Path) -> None:
    bad = env / "bad.yaml"
    bad.write_text("targets: {accuracy: 2}")
    result = runner.invoke(app, ["train", "--config", str(bad)])
    assert result.exit_code == 1
    assert "must lie in [0, 1]" in result.output


def test_serve_runs_uvicorn_with_settings(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(application: Any, **kwargs: Any) -> None:
        seen.update(kwargs, title=application.title)

    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.setattr(
        "insight.observability.logging.configure_logging", lambda level, fmt: seen.update(logging=(level, fmt))
    )
    monkeypatch.setenv("INSIGHT_LOG_FORMAT", "json")
    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "host": "127.0.0.1",
        "port": 8123,
        "log_config": None,
        "access_log": False,
        "log_level": "info",
        "title": "Insight",
        "logging": ("INFO", "json"),
    }


def test_train_if_missing_keeps_an_existing_model(env: Path, trained_model_dir: Path) -> None:
    import shutil

    shutil.copytree(trained_model_dir, env / "model")
    before = (env / "model" / "metadata.json").read_bytes()
    result = runner.invoke(app, ["train", "--if-missing"])
    assert result.exit_code == 0, result.output
    assert "not retraining" in result.output
    assert (env / "model" / "metadata.json").read_bytes() == before


def test_ingest_search_and_collections_commands(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_VECTORSTORE__PATH", str(env / "vs"))
    folder = env / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "cafe.md").write_text("# Café\n\nThe café opens at eight and serves espresso.")
    (folder / "sub" / "parking.txt").write_text("Parking permits are issued by the facilities team.")
    (folder / "ignored.bin").write_bytes(b"\x00")

    first = runner.invoke(app, ["ingest", str(folder), "-c", "handbook"])
    assert first.exit_code == 0, first.output
    assert "2 added, 0 updated, 0 unchanged" in first.output
    second = runner.invoke(app, ["ingest", str(folder), "-c", "handbook"])
    assert "0 added, 0 updated, 2 unchanged; 0 chunks embedded" in second.output

    found = runner.invoke(app, ["search", "who issues parking permits", "-c", "handbook", "-k", "1"])
    assert found.exit_code == 0, found.output
    assert "sub/parking.txt" in found.output

    listed = runner.invoke(app, ["collections", "list"])
    assert "handbook" in listed.output
    assert runner.invoke(app, ["collections", "delete", "handbook"]).exit_code == 0
    missing = runner.invoke(app, ["search", "x", "-c", "handbook"])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_ingest_reports_unreadable_files(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_VECTORSTORE__PATH", str(env / "vs"))
    (env / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    (env / "good.txt").write_text("A fine document about sailing.")
    result = runner.invoke(app, ["ingest", str(env / "bad.pdf"), str(env / "good.txt")])
    assert result.exit_code == 1
    assert "1 added" in result.output and "failed" in result.output and "bad.pdf" in result.output


def test_ingest_of_a_missing_path_exits_2(env: Path) -> None:
    result = runner.invoke(app, ["ingest", str(env / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_ask_answers_with_the_answerer_the_api_builds(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from insight.config import SearchSettings, VectorStoreSettings
    from insight.llm.slot import LLMSlot
    from insight.rag import answer
    from insight.rag.service import RagService
    from insight.rag.store import ChromaStore, build_chroma_client
    from insight.tokens import get_encoding
    from tests.rag.fakes import HashEmbeddings
    from tests.rag.test_answer import cited_llm
    from tests.rag.test_service import corpus

    store = ChromaStore(build_chroma_client(VectorStoreSettings(path=env / "store")), HashEmbeddings.model_id)
    rag = RagService(store, HashEmbeddings(), get_encoding(), SearchSettings())
    rag.ingest("handbook", corpus())
    built: list[Any] = []
    original = answer.build_answerer

    def spy(*args: Any, **kwargs: Any) -> answer.Answerer:
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr("insight.cli._rag", lambda _settings: rag)
    monkeypatch.setattr(LLMSlot, "require", lambda _slot: cited_llm([1], "Refunds are paid within 30 days."))
    monkeypatch.setattr(answer, "build_answerer", spy)
    result = runner.invoke(app, ["ask", "When are refunds paid?", "--collection", "handbook"])
    assert result.exit_code == 0, result.output
    # the default (extractive) answer: the best sentence verbatim, then its citation with the sentence's span
    assert "Refunds are paid within 30 days to the original card." in result.output
    assert "[1] refunds chars 0-53" in result.output
    assert len(built) == 1 and built[0][1] is rag
