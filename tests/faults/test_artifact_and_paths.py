"""A tampered model artifact is refused by the running service; uploaded and ingested names stay in their roots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from insight.api.app import create_app
from insight.cli import app as cli_app
from insight.predictor.artifact import MODEL_FILE
from insight.rag.store import PREFIX, build_chroma_client
from tests.api.conftest import build_with_fakes
from tests.conftest import make_settings

runner = CliRunner()


def test_a_model_whose_hash_does_not_match_is_refused_by_the_service(
    tmp_path: Path, trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "predictor"
    shutil.copytree(trained_model_dir, model_dir)
    data = bytearray((model_dir / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / MODEL_FILE).write_bytes(bytes(data))

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a file that failed its hash check must never be unpickled")

    monkeypatch.setattr("insight.predictor.artifact.joblib.load", never)
    with TestClient(create_app(make_settings(tmp_path, model_dir=model_dir), build=build_with_fakes)) as client:
        refused = client.post("/api/v1/predict", json={"features": {"x": 1.0}})
        assert refused.status_code == 503
        assert "sha256" in refused.json()["message"] and "refusing to load" in refused.json()["message"]
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["parts"]["predictor"]["status"] == "error"


@pytest.mark.parametrize(
    "filename", ["../../etc/passwd.txt", "/etc/passwd.txt", "..%2F..%2Fescape.txt", "a/../../../escape.txt"]
)
def test_uploaded_file_names_cannot_escape(tmp_path: Path, filename: str) -> None:
    settings = make_settings(tmp_path)
    before = {p for p in tmp_path.parent.rglob("*") if "passwd" in p.name or "escape" in p.name}
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        files = [("files", (filename, b"Refunds are paid within 30 days.", "text/plain"))]
        response = client.post("/api/v1/collections/uploads/documents", files=files)
        assert response.status_code == 200, response.text
        (doc_id,) = response.json()["added"]
        assert "/" not in doc_id and ".." not in doc_id.split("/")
        hits = client.post("/api/v1/search", json={"collection": "uploads", "query": "refunds"}).json()["hits"]
        assert hits[0]["doc_id"] == doc_id and "/" not in hits[0]["source"]
    # Uploads are read in memory and stored only in Chroma: nothing was written under the given name.
    after = {p for p in tmp_path.parent.rglob("*") if "passwd" in p.name or "escape" in p.name}
    assert after == before


def test_cli_ingest_skips_links_that_leave_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe salary table lives here.\n")
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "note.md").write_text("# Note\n\nRefunds are paid within 30 days.\n")
    (folder / "leak.md").symlink_to(outside / "secret.md")
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIGHT_VECTORSTORE__PATH", str(tmp_path / "vectorstore"))
    result = runner.invoke(cli_app, ["ingest", str(folder), "--collection", "corpus"])
    assert result.exit_code == 0, result.output
    assert "leak.md" in result.output and "outside" in result.output  # said why it was skipped
    stored = build_chroma_client(make_settings(tmp_path).vectorstore).get_collection(PREFIX + "corpus")
    doc_ids = {m["doc_id"] for m in stored.get(include=["metadatas"])["metadatas"] or []}
    assert doc_ids == {"sub/note.md"}
