"""The ``Embedder`` contract, run against every implementation.

- ``onnx``: the local all-MiniLM-L6-v2 int8 model from the installed packages (real inference);
- ``openai_compatible``: ``OpenAICompatibleEmbedder`` over langchain-openai with ``/embeddings`` mocked by respx
  (the mock embeds by a hashed bag of words, so similar texts get similar vectors);
- ``hash``: the tests' ``HashEmbeddings``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import respx

from insight.config import EmbeddingSettings
from insight.rag.embeddings import OnnxMiniLMEmbeddings
from insight.rag.factory import build_embedder
from insight.rag.protocols import Embedder
from tests.rag.fakes import HashEmbeddings

BASE_URL = "http://embeddings.test/v1"
TEXTS = [
    "Aspirin lowers the risk of heart attack.",
    "The cat sat on the mat all afternoon.",
    "Stocks fell sharply after the central bank raised interest rates.",
    "Mitochondria produce most of the energy of the cell.",
    "x",
]
SERVER_EMBEDDER = HashEmbeddings()


def embeddings_reply(request: httpx.Request) -> httpx.Response:
    """An OpenAI ``/embeddings`` response: one hashed bag-of-words vector per input, in input order."""
    inputs = json.loads(request.content)["input"]
    data = [
        {"object": "embedding", "index": i, "embedding": SERVER_EMBEDDER._vector(text).tolist()}
        for i, text in enumerate(inputs)
    ]
    usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
    return httpx.Response(200, json={"object": "list", "data": data, "model": "emb", "usage": usage})


@pytest.fixture(scope="module")
def onnx() -> OnnxMiniLMEmbeddings:
    return OnnxMiniLMEmbeddings.from_installed_packages(threads=1, batch_size=2)


@pytest.fixture(params=["onnx", "openai_compatible", "hash"])
def embedder(request: pytest.FixtureRequest) -> Iterator[Embedder]:
    if request.param == "onnx":
        yield request.getfixturevalue("onnx")
    elif request.param == "hash":
        yield HashEmbeddings()
    else:
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as wire:
            wire.post("/embeddings").mock(side_effect=embeddings_reply)
            settings = EmbeddingSettings(provider="openai_compatible", base_url=BASE_URL, model="emb", batch_size=2)
            remote, _ = build_embedder(settings)
            yield remote


def test_is_an_embedder_with_an_identity(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert isinstance(embedder.model_id, str) and embedder.model_id


def test_embed_array_is_one_float32_row_per_text(embedder: Embedder) -> None:
    vectors = embedder.embed_array(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.ndim == 2 and vectors.shape[0] == len(TEXTS) and vectors.shape[1] > 1
    assert np.isfinite(vectors).all()
    assert (np.linalg.norm(vectors, axis=1) > 0).all()


def test_rows_keep_input_order_whatever_the_batching(embedder: Embedder) -> None:
    batched = embedder.embed_array(TEXTS)
    one_by_one = np.stack([embedder.embed_array([text])[0] for text in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reversed_rows = embedder.embed_array(TEXTS[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], batched, atol=1e-5)


def test_same_text_same_vector(embedder: Embedder) -> None:
    np.testing.assert_array_equal(embedder.embed_array(TEXTS[:2]), embedder.embed_array(TEXTS[:2]))


def test_no_texts_give_no_rows(embedder: Embedder) -> None:
    assert embedder.embed_array([]).shape[0] == 0
    assert embedder.embed_query_array([]).shape[0] == 0


def test_the_list_forms_match_the_arrays(embedder: Embedder) -> None:
    vectors = embedder.embed_documents(list(TEXTS))
    assert len(vectors) == len(TEXTS) and all(type(v[0]) is float for v in vectors)
    np.testing.assert_allclose(np.asarray(vectors), embedder.embed_array(TEXTS), atol=1e-6)
    query = "does aspirin prevent heart attack"
    np.testing.assert_allclose(embedder.embed_query(query), embedder.embed_query_array([query])[0], atol=1e-6)


def test_queries_share_the_documents_space(embedder: Embedder) -> None:
    queries = ["aspirin and the risk of heart attack", "the cat on the mat", "central bank interest rates"]
    query_vectors = embedder.embed_query_array(queries)
    documents = embedder.embed_array(TEXTS[:3])
    assert query_vectors.dtype == np.float32 and query_vectors.shape == (len(queries), documents.shape[1])
    for i, single in enumerate(queries):  # a query's vector does not depend on the others in its batch
        np.testing.assert_allclose(embedder.embed_query_array([single])[0], query_vectors[i], atol=1e-5)
    cosine = (query_vectors / np.linalg.norm(query_vectors, axis=1, keepdims=True)) @ (
        documents / np.linalg.norm(documents, axis=1, keepdims=True)
    ).T
    assert cosine.argmax(axis=1).tolist() == [0, 1, 2]  # each query nearest its own passage
