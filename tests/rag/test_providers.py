"""The OpenAI-compatible embeddings provider, on the real wire format (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from insight.config import EmbeddingSettings
from insight.rag.factory import build_embedder


def embedding_reply(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [{"object": "embedding", "index": i, "embedding": [float(i), 1.0, 0.5]} for i in range(len(inputs))]
    return httpx.Response(
        200, json={"object": "list", "data": data, "model": "emb", "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    )


@respx.mock
def test_openai_compatible_embeddings_batch_and_query() -> None:
    route = respx.post("http://models.local/v1/embeddings").mock(side_effect=embedding_reply)
    settings = EmbeddingSettings(
        provider="openai_compatible", base_url="http://models.local/v1", model="emb", batch_size=2
    )
    embedder, model_id = build_embedder(settings)
    assert model_id == "openai-compatible:emb"
    vectors = embedder.embed_documents(["a", "b", "c"])
    assert vectors == [[0.0, 1.0, 0.5], [1.0, 1.0, 0.5], [0.0, 1.0, 0.5]]
    assert route.call_count == 2  # batches of two
    sent = json.loads(route.calls[0].request.content)
    assert sent["model"] == "emb" and sent["input"] == ["a", "b"]
    assert embedder.embed_query("q") == [0.0, 1.0, 0.5]


@respx.mock
def test_openai_compatible_embeddings_server_error_is_raised() -> None:
    respx.post("http://models.local/v1/embeddings").mock(return_value=httpx.Response(500, json={"error": "boom"}))
    settings = EmbeddingSettings(provider="openai_compatible", base_url="http://models.local/v1", model="emb")
    embedder, _ = build_embedder(settings)
    with pytest.raises(Exception, match="500|boom"):
        embedder.embed_documents(["a"])


def test_local_provider_is_the_onnx_model() -> None:
    embedder, model_id = build_embedder(EmbeddingSettings())
    assert model_id == "all-MiniLM-L6-v2-int8-onnx"
    assert len(embedder.embed_query("hello")) == 384
