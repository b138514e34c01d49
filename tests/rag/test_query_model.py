"""The int8-compute query copy of the embedding model: derived locally, verified, close to the original."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from insight.config import EmbeddingSettings
from insight.rag.embeddings import (
    MODEL_SHA256,
    EmbeddingModelUnavailable,
    OnnxMiniLMEmbeddings,
    locate_installed_model_files,
)
from insight.rag.factory import build_embedder
from insight.rag.query_model import ensure_query_model, query_model_path

DOCUMENTS = [
    "Aspirin lowers the risk of heart attack in adults with cardiovascular disease.",
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "Stocks fell sharply after the central bank raised interest rates.",
    "Mitochondria produce most of the chemical energy that powers the cell.",
]
QUERIES = [
    "Does aspirin prevent heart attacks?",
    "low vitamin D and broken bones in the elderly",
    "interest rate rise and the stock market",
    "what makes energy in cells",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-models")


@pytest.fixture(scope="module")
def query_model(cache: Path) -> Path:
    return ensure_query_model(locate_installed_model_files().model, MODEL_SHA256, cache)


@pytest.fixture(scope="module")
def embedder(query_model: Path) -> OnnxMiniLMEmbeddings:
    files = locate_installed_model_files()
    return OnnxMiniLMEmbeddings.from_verified_files(files, threads=1, batch_size=4, query_model_path=query_model)


def test_the_query_model_is_derived_into_the_cache_with_its_digest(cache: Path, query_model: Path) -> None:
    assert query_model == query_model_path(cache, MODEL_SHA256)
    assert query_model.stat().st_size > 1_000_000
    assert query_model.with_suffix(".sha256").read_text(encoding="utf-8").strip()
    assert not [p for p in cache.iterdir() if p.name.startswith(".derive-")], "the work folder is cleaned up"


def test_a_second_call_reuses_the_derived_file(cache: Path, query_model: Path) -> None:
    before = query_model.stat().st_mtime_ns
    again = ensure_query_model(locate_installed_model_files().model, MODEL_SHA256, cache)
    assert again == query_model
    assert again.stat().st_mtime_ns == before


def test_the_query_model_computes_in_int8(query_model: Path) -> None:
    import onnx

    ops = {node.op_type for node in onnx.load(str(query_model)).graph.node}
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops


def test_query_vectors_stay_close_to_the_document_models(embedder: OnnxMiniLMEmbeddings) -> None:
    by_query_model = embedder.embed_query_array(QUERIES)
    by_document_model = embedder.embed_array(QUERIES)
    assert not np.array_equal(by_query_model, by_document_model), "queries go through the other model"
    cosines = (by_query_model * by_document_model).sum(axis=1)
    assert cosines.min() > 0.97
    np.testing.assert_allclose(np.linalg.norm(by_query_model, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embedder.embed_query(QUERIES[0]), by_query_model[0].tolist())


def test_each_query_still_finds_its_document(embedder: OnnxMiniLMEmbeddings) -> None:
    similarity = embedder.embed_query_array(QUERIES) @ embedder.embed_array(DOCUMENTS).T
    assert similarity.argmax(axis=1).tolist() == [0, 1, 2, 3]


def test_an_altered_query_model_is_refused(tmp_path: Path, query_model: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    copy = query_model_path(cache, MODEL_SHA256)
    shutil.copy(query_model, copy)
    shutil.copy(query_model.with_suffix(".sha256"), copy.with_suffix(".sha256"))
    with copy.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(EmbeddingModelUnavailable, match="was recorded when it was derived"):
        ensure_query_model(locate_installed_model_files().model, MODEL_SHA256, cache)


def test_a_source_with_the_wrong_hash_is_not_derived_from(tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"not the model")
    with pytest.raises(EmbeddingModelUnavailable, match="sha256"):
        ensure_query_model(source, MODEL_SHA256, tmp_path / "cache")
    assert not query_model_path(tmp_path / "cache", MODEL_SHA256).exists()


def test_the_factory_derives_the_query_model_only_when_asked(tmp_path: Path, query_model: Path) -> None:
    same = EmbeddingSettings(query_model="document", model_cache=tmp_path / "none")
    embedder, _ = build_embedder(same)
    assert not (tmp_path / "none").exists()
    assert isinstance(embedder, OnnxMiniLMEmbeddings)
    np.testing.assert_array_equal(embedder.embed_query_array(QUERIES), embedder.embed_array(QUERIES))

    cache = query_model.parent  # already derived: the factory reuses it
    embedder, model_id = build_embedder(EmbeddingSettings(model_cache=cache))
    assert model_id == "all-MiniLM-L6-v2-int8-onnx", "collections still record the documents' model"
    assert isinstance(embedder, OnnxMiniLMEmbeddings)
    assert not np.array_equal(embedder.embed_query_array(QUERIES), embedder.embed_array(QUERIES))


def test_the_module_derives_ahead_of_time_from_the_command_line(
    query_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from insight.rag.query_model import main

    assert main([str(query_model.parent)]) == 0
    assert capsys.readouterr().out.strip() == str(query_model)
