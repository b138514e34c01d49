"""The real int8 MiniLM from the installed packages: vectors, batching, truncation, integrity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from insight.errors import InsightError
from insight.rag.embeddings import (
    MODEL_SHA256,
    TOKENIZER_SHA256,
    EmbeddingModelUnavailable,
    ModelFiles,
    OnnxMiniLMEmbeddings,
    locate_installed_model_files,
    sha256_of,
)

TEXTS = [
    "Aspirin lowers the risk of heart attack.",
    "The cat sat on the mat.",
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "",
    "Stocks fell sharply after the central bank raised interest rates.",
    "Mitochondria are the powerhouse of the cell.",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLMEmbeddings:
    return OnnxMiniLMEmbeddings.from_installed_packages(threads=1, batch_size=4)


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_is_a_langchain_embeddings_with_identity(embedder: OnnxMiniLMEmbeddings) -> None:
    assert isinstance(embedder, Embeddings)
    assert embedder.dimension == 384
    assert embedder.model_id == "all-MiniLM-L6-v2-int8-onnx"


def test_documents_are_unit_vectors_of_384_python_floats(embedder: OnnxMiniLMEmbeddings) -> None:
    vectors = embedder.embed_documents(TEXTS)
    assert len(vectors) == len(TEXTS)
    assert all(len(v) == 384 and type(v[0]) is float for v in vectors)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(vectors), axis=1), 1.0, atol=1e-5)


def test_embed_array_is_float32_and_matches_the_list_api(embedder: OnnxMiniLMEmbeddings) -> None:
    array = embedder.embed_array(TEXTS)
    assert array.dtype == np.float32
    assert array.shape == (len(TEXTS), 384)
    np.testing.assert_array_equal(array, np.asarray(embedder.embed_documents(TEXTS), dtype=np.float32))


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: OnnxMiniLMEmbeddings) -> None:
    query = embedder.embed_query("Does taking aspirin reduce heart attacks?")
    paraphrase, unrelated = embedder.embed_documents(
        ["Aspirin lowers the risk of myocardial infarction.", "The football match ended in a draw."]
    )
    assert cosine(query, paraphrase) > cosine(query, unrelated) + 0.3


def test_batched_result_equals_one_by_one_in_input_order(embedder: OnnxMiniLMEmbeddings) -> None:
    # Different lengths, so the length sort inside a call reorders them and padding differs.
    batched = embedder.embed_array(TEXTS)
    single = np.stack([embedder.embed_array([text])[0] for text in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched[0], embedder.embed_query(TEXTS[0]), atol=1e-5)


def test_query_and_document_share_the_model(embedder: OnnxMiniLMEmbeddings) -> None:
    np.testing.assert_array_equal(embedder.embed_query(TEXTS[2]), embedder.embed_documents([TEXTS[2]])[0])


def test_long_text_is_truncated_to_max_tokens(embedder: OnnxMiniLMEmbeddings) -> None:
    head = "Vitamin D deficiency is associated with fractures. "
    long_text = head * 200  # ~2,000 tokens, far past the 512 positions the model has
    assert embedder.token_counts([long_text]) == [256]
    vector = embedder.embed_array([long_text, head * 60])  # both cut at 256: same tokens, same vector
    assert np.isfinite(vector).all()
    np.testing.assert_allclose(vector[0], vector[1], atol=1e-5)


def test_empty_input_gives_empty_output(embedder: OnnxMiniLMEmbeddings) -> None:
    assert embedder.embed_documents([]) == []
    assert embedder.embed_array([]).shape == (0, 384)


def test_deterministic_across_calls_and_instances(embedder: OnnxMiniLMEmbeddings) -> None:
    other = OnnxMiniLMEmbeddings.from_installed_packages(threads=2, batch_size=32)
    first = embedder.embed_array(TEXTS)
    np.testing.assert_array_equal(first, embedder.embed_array(TEXTS))
    np.testing.assert_allclose(first, other.embed_array(TEXTS), atol=1e-5)


def test_installed_files_carry_the_pinned_hashes() -> None:
    files = locate_installed_model_files()
    assert sha256_of(files.model) == MODEL_SHA256
    assert sha256_of(files.tokenizer) == TOKENIZER_SHA256


@pytest.mark.parametrize("which", ["model", "tokenizer"])
def test_a_tampered_file_is_refused_with_a_clear_error(tmp_path: Path, which: str) -> None:
    real = locate_installed_model_files()
    copies = ModelFiles(model=tmp_path / "model.onnx", tokenizer=tmp_path / "tokenizer.json")
    shutil.copyfile(real.model, copies.model)
    shutil.copyfile(real.tokenizer, copies.tokenizer)
    with getattr(copies, which).open("ab") as handle:
        handle.write(b"\n")
    with pytest.raises(EmbeddingModelUnavailable, match=r"sha256 .* expected") as caught:
        OnnxMiniLMEmbeddings.from_verified_files(copies, threads=1, batch_size=4)
    assert isinstance(caught.value, InsightError)
    assert str(getattr(copies, which)) in caught.value.message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    real = locate_installed_model_files()
    files = ModelFiles(model=tmp_path / "absent.onnx", tokenizer=real.tokenizer)
    with pytest.raises(EmbeddingModelUnavailable, match="not found"):
        OnnxMiniLMEmbeddings.from_verified_files(files, threads=1, batch_size=4)


def test_a_missing_package_is_refused() -> None:
    with pytest.raises(EmbeddingModelUnavailable, match="'no-such-minilm-package' is not installed"):
        locate_installed_model_files(model_distribution="no-such-minilm-package")


@pytest.mark.parametrize(("threads", "batch_size", "max_tokens"), [(0, 4, 256), (1, 0, 256), (1, 4, 513), (1, 4, 2)])
def test_invalid_arguments_are_rejected(threads: int, batch_size: int, max_tokens: int) -> None:
    real = locate_installed_model_files()
    with pytest.raises(ValueError):
        OnnxMiniLMEmbeddings(real.model, real.tokenizer, threads=threads, batch_size=batch_size, max_tokens=max_tokens)
