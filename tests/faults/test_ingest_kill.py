"""`insight ingest` killed with SIGKILL mid-way (a real process, the real ONNX embedder, a Chroma server);
re-running it ends with every document exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from insight.rag.store import PREFIX, build_chroma_client
from tests.faults.chroma import ChromaServer

FILES = 256  # four of the ingestor's 64-document batches
WORDS = ["refund", "invoice", "parking", "budget", "travel", "laptop", "holiday", "pension", "badge", "canteen"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path).start()
    yield chroma
    chroma.kill()


def _corpus(folder: Path) -> set[str]:
    """Short notes (one chunk each), so the expected chunk ids are exactly ``<file>#0``."""
    folder.mkdir()
    for i in range(FILES):
        topic = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5))
        (folder / f"note-{i:04d}.md").write_text(f"# Note {i}\n\nNote {i} is about {topic}; its number is {i}.\n")
    return {f"note-{i:04d}.md" for i in range(FILES)}


def _ingest(folder: Path, server: ChromaServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSIGHT_")},
        "INSIGHT_VECTORSTORE__HOST": "127.0.0.1",
        "INSIGHT_VECTORSTORE__PORT": str(server.port),
        "INSIGHT_EMBEDDINGS__BATCH_SIZE": "16",
    }
    command = [str(Path(sys.executable).parent / "insight"), "ingest", str(folder), "--collection", "notes"]
    return subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stored(server: ChromaServer) -> list[str]:
    client = build_chroma_client(server.settings)
    try:
        collection = client.get_collection(PREFIX + "notes")
    except Exception:
        return []
    return list(collection.get(include=[])["ids"])


def test_ingest_killed_mid_way_then_rerun_has_no_duplicates_and_nothing_lost(
    server: ChromaServer, tmp_path: Path
) -> None:
    expected = {f"{name}#0" for name in _corpus(tmp_path / "notes")}
    first = _ingest(tmp_path / "notes", server, tmp_path)
    deadline = time.monotonic() + 240
    while not (partial := _stored(server)):
        assert first.poll() is None, first.communicate()[0].decode(errors="replace")[-2000:]
        assert time.monotonic() < deadline, "ingestion wrote nothing in time"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    at_kill = _stored(server)
    assert 0 < len(partial) <= len(at_kill) < FILES, "the kill should land mid-way"

    rerun = _ingest(tmp_path / "notes", server, tmp_path)
    output = rerun.communicate(timeout=600)[0].decode(errors="replace")
    assert rerun.returncode == 0, output[-2000:]
    assert f"{len(at_kill)} unchanged" in output, output[-2000:]

    ids = _stored(server)
    duplicates = [chunk for chunk, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert set(ids) == expected
