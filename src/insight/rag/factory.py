"""Builds the search job's services from settings (called by the API lifespan and the CLI).

The embedder (an ``Embedder``) and the Chroma store (a ``VectorStore``) are chosen here by settings;
everything above them is typed against the Protocols in ``insight.rag.protocols``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from insight.config import EmbeddingSettings, Settings
from insight.errors import InsightError, VectorStoreUnavailable
from insight.rag.embeddings import (
    MODEL_SHA256,
    OnnxMiniLMEmbeddings,
    OpenAICompatibleEmbedder,
    locate_installed_model_files,
)
from insight.rag.protocols import Embedder
from insight.rag.query_model import ensure_query_model
from insight.rag.service import RagService
from insight.rag.store import ChromaStore, build_chroma_client
from insight.tokens import get_encoding

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5.0


def build_embedder(settings: EmbeddingSettings) -> tuple[Embedder, str]:
    """The embedder and the model id recorded on every collection it writes."""
    if settings.provider == "local":
        files = locate_installed_model_files()
        query_model = None
        if settings.query_model == "int8":
            query_model = ensure_query_model(files.model, MODEL_SHA256, settings.model_cache)
        local = OnnxMiniLMEmbeddings.from_verified_files(
            files, threads=settings.threads, batch_size=settings.batch_size, query_model_path=query_model
        )
        return local, local.model_id
    from langchain_openai import OpenAIEmbeddings
    from pydantic import SecretStr

    remote = OpenAIEmbeddings(
        model=settings.model,
        openai_api_base=settings.base_url,
        openai_api_key=SecretStr(settings.api_key or "not-needed"),
        check_embedding_ctx_length=False,  # token counting would fetch a tokenizer
        chunk_size=settings.batch_size,
        max_retries=2,
        request_timeout=30.0,
    )
    embedder = OpenAICompatibleEmbedder(remote, f"openai-compatible:{settings.model}")
    return embedder, embedder.model_id


def build_rag_service(settings: Settings) -> RagService:
    embedder, model_id = build_embedder(settings.embeddings)
    store = ChromaStore(build_chroma_client(settings.vectorstore), embedding_model=model_id)
    return RagService(store, embedder, get_encoding(), settings.search)


@dataclass
class RagSlot:
    """The search service, or why there is none; retried on use so a returning Chroma recovers."""

    settings: Settings
    service: RagService | None = None
    problem: str | None = None
    on_service: Callable[[RagService], None] | None = None
    """Called with each service the slot builds (the app's metrics hook in here)."""
    _last_try: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> RagSlot:
        with self._lock:
            self._try_build()
        return self

    def require(self) -> RagService:
        if self.service is not None:
            return self.service
        with self._lock:
            if self.service is None and time.monotonic() - self._last_try >= RETRY_AFTER_S:
                self._try_build()
        if self.service is None:
            raise VectorStoreUnavailable(self.problem or "the search service is not available")
        return self.service

    def _try_build(self) -> None:
        self._last_try = time.monotonic()
        try:
            service = build_rag_service(self.settings)
            if self.on_service is not None:
                self.on_service(service)
            self.service = service
            self.problem = None
        except InsightError as exc:
            self.problem = exc.message
            log.error("search service unavailable: %s", exc.message)
