"""Ingestion on Ray: the local path's chunks and vectors, in a Chroma server; idempotent; embedded store refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from typer.testing import CliRunner

from insight.bulk.ingest import ingest_on_ray
from insight.cli import app
from insight.config import RaySettings, SearchSettings, Settings, VectorStoreSettings
from insight.errors import ConfigError
from insight.rag.factory import build_rag_service
from insight.rag.ingest import SourceDocument
from insight.rag.store import ChromaStore, build_chroma_client
from tests.conftest import make_settings
from tests.rag.fakes import doc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # Ray's own deprecations
WORDS = "cell protein gene immune response tumour growth signal pathway receptor binding expression".split()


def corpus(n: int, seed: int = 0) -> list[SourceDocument]:
    """Documents of 40-400 words, so some span several chunks."""
    rng = np.random.default_rng(seed)
    return [
        doc(f"d{i:03d}", " ".join(rng.choice(WORDS, size=int(rng.integers(40, 400)))), title=f"Title {i}")
        for i in range(n)
    ]


def server_settings(root: Path, chroma: VectorStoreSettings) -> Settings:
    return make_settings(
        root,
        vectorstore=chroma,
        search=SearchSettings(chunk_tokens=64, chunk_overlap=8),
        ray=RaySettings(actors=2, ingest_batch_chunks=16),
    )


def test_the_embedded_store_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Chroma server"):
        ingest_on_ray(make_settings(tmp_path), "notes", corpus(2))
    (tmp_path / "a.txt").write_text("some text")
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "a.txt"), "-c", "notes", "--engine", "ray"],
        env={"INSIGHT_VECTORSTORE__PATH": str(tmp_path / "vs")},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Chroma server" in result.output


@pytest.mark.integration
def test_ray_ingest_matches_the_local_path_and_is_idempotent(
    ray_cluster: ModuleType, chroma: VectorStoreSettings, tmp_path: Path
) -> None:
    settings = server_settings(tmp_path, chroma)
    docs = corpus(40)
    local_name, ray_name = f"l-{uuid.uuid4().hex[:8]}", f"r-{uuid.uuid4().hex[:8]}"
    rag = build_rag_service(settings)
    local = rag.ingest(local_name, docs)
    report, info = ingest_on_ray(settings, ray_name, docs)

    assert sorted(report.added) == sorted(local.added) and len(report.added) == 40
    assert report.chunks_embedded == local.chunks_embedded > 40  # some documents have several chunks
    assert info.documents == 40 and info.chunks == local.chunks_embedded
    store = ChromaStore(build_chroma_client(chroma), embedding_model=info.embedding_model)
    a, b = store.read_all(local_name, with_vectors=True), store.read_all(ray_name, with_vectors=True)
    order_a, order_b = np.argsort(a.ids), np.argsort(b.ids)
    assert [a.ids[i] for i in order_a] == [b.ids[i] for i in order_b]
    assert [a.metadatas[i] for i in order_a] == [b.metadatas[i] for i in order_b]
    assert a.vectors is not None and b.vectors is not None
    assert float(np.abs(a.vectors[order_a] - b.vectors[order_b]).max()) <= 1e-5
    hits = [[h.doc_id for h in rag.search(name, "immune receptor binding", top_k=5)] for name in (local_name, ray_name)]
    assert hits[0] == hits[1]

    again, _ = ingest_on_ray(settings, ray_name, docs)  # unchanged: nothing reaches Ray
    assert again.chunks_embedded == 0 and len(again.unchanged) == 40

    # A job killed midway: one document half-written, another's chunks never written.
    half = [cid for cid in b.ids if cid.startswith("d001#")]
    store.delete_chunks(ray_name, half[len(half) // 2 :] or half)
    store.delete_chunks(ray_name, [cid for cid in b.ids if cid.startswith("d002#")])
    store.bump_version(ray_name, documents_delta=-1)  # d002 was never counted: the job died before its chunks
    changed = [*docs[:3], doc("d003", "a rewritten short text", title="Title 3"), *docs[4:]]
    rerun, info = ingest_on_ray(settings, ray_name, changed)
    assert sorted(rerun.updated) == ["d001", "d003"] and rerun.added == ["d002"]
    assert len(rerun.unchanged) == 37
    assert rerun.chunks_deleted == len([cid for cid in b.ids if cid.startswith("d003#")]) - 1
    final = store.read_all(ray_name, with_vectors=False)
    assert len(final.ids) == len(set(final.ids)) == info.chunks
    assert {m["doc_id"] for m in final.metadatas} == {d.doc_id for d in docs}
    assert info.documents == 40


@pytest.mark.integration
def test_cli_ingests_files_on_ray_and_a_rerun_embeds_nothing(
    ray_cluster: ModuleType, chroma: VectorStoreSettings, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Receptor binding drives the immune response in tumour cells.")
    (folder / "b.md").write_text("# Growth\n\nSignal pathways regulate gene expression and growth.")
    env = {"INSIGHT_VECTORSTORE__HOST": str(chroma.host), "INSIGHT_VECTORSTORE__PORT": str(chroma.port)}
    name = f"c-{uuid.uuid4().hex[:8]}"
    first = CliRunner().invoke(app, ["ingest", str(folder), "-c", name, "--engine", "ray"], env=env)
    assert first.exit_code == 0, first.output
    assert "2 added, 0 updated, 0 unchanged" in first.output
    assert f"collection {name}: 2 documents" in first.output
    again = CliRunner().invoke(app, ["ingest", str(folder), "-c", name, "--engine", "ray"], env=env)
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 2 unchanged; 0 chunks embedded" in again.output
