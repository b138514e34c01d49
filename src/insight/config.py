"""Settings: one object, built once at the edge (CLI or app factory) and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"])
    access_log: bool = True
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    request_timeout_s: float = Field(
        default=120.0, gt=0.0, description="time to the first response byte; past it the request gets a 504"
    )
    metrics: bool = Field(default=True, description="serve Prometheus metrics at /metrics")
    gc_freeze: bool = Field(
        default=True,
        description="after start-up, exempt the objects built so far from garbage collection (gc.freeze): "
        "each collection then scans only what requests allocate, which shortens the pauses behind p99",
    )
    gc_threshold: tuple[int, int, int] = Field(
        default=(10_000, 20, 50),
        description="gc.set_threshold while serving (Python's default is 700, 10, 10): a request allocates "
        "tens of thousands of objects, and fewer young-generation collections cut ~10 % of /analyze's CPU",
    )

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("'*' is not allowed: list the origins that may call the API")
        return origins


class PredictorSettings(BaseModel):
    config_path: Path = Path("configs/model_config.yaml")
    model_dir: Path = Path("var/models/predictor")
    max_batch_rows: int = Field(default=10_000, ge=1)
    registered_model_name: str = "insight-predictor"


class VectorStoreSettings(BaseModel):
    """Embedded Chroma under ``path`` unless ``host`` names a Chroma server."""

    path: Path = Path("vectorstore")
    host: str | None = None
    port: int = Field(default=8001, ge=1, le=65535)


class EmbeddingSettings(BaseModel):
    """all-MiniLM-L6-v2 int8 ONNX in-process by default, or an OpenAI-compatible endpoint."""

    provider: Literal["local", "openai_compatible"] = "local"
    threads: int = Field(default=1, ge=1, le=64)
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="texts per model call (local) or request (remote); 8 measured fastest for the local int8 model",
    )
    query_model: Literal["int8", "document"] = Field(
        default="int8",
        description="local: embed queries with an int8-compute copy of the model derived at first use "
        "(~40 % faster, vectors within cosine 0.98 of the original), or with the documents' model",
    )
    model_cache: Path = Field(default=Path("var/models/embeddings"), description="where the query copy is derived")
    model: str = "all-MiniLM-L6-v2"
    base_url: str | None = None
    api_key: str | None = None

    @model_validator(mode="after")
    def _base_url_for_remote(self) -> EmbeddingSettings:
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError("embedding provider 'openai_compatible' needs base_url")
        return self


class SearchSettings(BaseModel):
    """Chunking, lexical index and fusion. Defaults tuned on SciFact's train split."""

    chunk_tokens: int = Field(default=192, ge=16, le=2048)
    chunk_overlap: int = Field(default=32, ge=0, le=1024)
    candidates: int = Field(default=100, ge=1, le=1000)
    aggregation: Literal["document", "chunk"] = Field(
        default="document",
        description="document: rank documents (best passage, first passage, document-level BM25), "
        "each hit citing its best chunk; chunk: rank chunks",
    )
    fusion: Literal["rrf", "weighted"] = Field(default="weighted", description="weighted = min-max normalised")
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=0.30, ge=0.0, description="best passage (document) or chunk cosine")
    first_chunk_weight: float = Field(default=0.10, ge=0.0, description="document aggregation: first passage")
    lexical_weight: float = Field(default=0.60, ge=0.0)
    bm25_k1: float = Field(default=0.9, gt=0.0)
    bm25_b: float = Field(default=0.75, ge=0.0, le=1.0)
    title_repeats: int = Field(default=3, ge=0, le=10, description="title copies in the document-level BM25 text")
    exact_dense_max_chunks: int = Field(
        default=200_000, ge=0, description="collections up to this many chunks are searched exactly in memory"
    )
    snapshot_max_age_s: float = Field(
        default=1.0,
        ge=0.0,
        description="how long a search trusts its in-memory copy of a collection before asking Chroma for the version "
        "(writes through the same process show at once; 0 = ask on every search)",
    )
    feedback_docs: int = Field(
        default=0,
        ge=0,
        le=50,
        description="pseudo-relevance feedback (hybrid search, document aggregation): the first fusion's top this many "
        "documents refine the query and the rankings are fused again (0 = off; docs/retrieval-tuning.md §8)",
    )
    feedback_dense_alpha: float = Field(
        default=0.5, ge=0.0, le=10.0, description="feedback: q' = normalise(q + alpha · mean of best chunks); 0 = off"
    )
    feedback_terms: int = Field(default=10, ge=0, le=200, description="feedback: RM3 expansion terms; 0 = off")
    feedback_interpolation: float = Field(
        default=0.3, ge=0.0, le=1.0, description="feedback: the expansion terms' share of the RM3 query's weight"
    )
    feedback_lexical_share: float = Field(
        default=0.5, ge=0.0, le=1.0, description="feedback: RM3's share of lexical_weight; BM25 keeps the rest"
    )
    max_query_chars: int = Field(default=2000, ge=1)
    max_top_k: int = Field(default=100, ge=1)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    answer_top_k: int = Field(default=5, ge=1, le=50, description="passages given to the model by /ask")
    answer_min_dense: float = Field(
        default=0.3, ge=-1.0, le=1.0, description="a passage without lexical match needs this cosine similarity"
    )
    answer_context_tokens: int = Field(default=1500, ge=64, le=32_000)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> SearchSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self


class AnswerSettings(BaseModel):
    """/ask: answer-sentence selection, the found threshold and the answer mode.

    Weights and bias: ``bench/ask.py --tune`` on the tuning half of SQuAD dev articles 00-23 (questions of the
    even-numbered articles): per question a softmax over its candidate sentences, then a logistic calibration
    (top-1 sentence holds the answer: 0.714 of tuning questions; the dense feature added 0.006 and costs an
    embedding per sentence, so it is off). Answer size: up to 2 sentences, the second at half the best score or more
    (0.791 hold the answer, 1.46 sentences on average). Found threshold: the best F1 of ``found`` on pairs with and
    without the gold paragraph among thresholds that keep found-recall at 0.95 or more (0.04: precision 0.55,
    recall 0.97; a first rule, recall 0.9 or more, gave 0.08, which refused 10 % of answerable report-half
    questions and cost the gold-cited rate more than it gained in precision)."""

    mode: Literal["extractive", "generative"] = Field(
        default="extractive",
        description="extractive: the best sentence(s) verbatim, no model call; generative: the model phrases a short "
        "answer from them, verified against the cited sentences (else the extractive answer, flagged in meta)",
    )
    passages: int = Field(default=5, ge=1, le=50, description="top passages split into candidate sentences")
    max_sentences: int = Field(default=2, ge=1, le=5, description="sentences in an extractive answer at most")
    second_sentence_ratio: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="a further sentence joins the answer when its score is this share of the best",
    )
    found_threshold: float = Field(
        default=0.04, ge=0.0, le=1.0, description="best sentence score below this: found=false, no model call"
    )
    sentence_dense: bool = Field(default=False, description="embed candidate sentences (cached) for a dense feature")
    generative_sentences: int = Field(default=3, ge=1, le=10, description="sentences shown to the model")
    snap_min_f1: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="generative: the model's phrase is replaced by the run of words of its chosen sentence it "
        "matches best (token F1); below this F1 the extractive answer is returned instead",
    )
    bias: float = -9.079
    w_lexical: float = 1.996
    w_lexical_relative: float = 1.018
    w_bigram: float = 0.845
    w_dense: float = 0.0
    w_passage_rank: float = -0.083
    w_passage_dense: float = 5.897
    w_position: float = -0.227
    w_cue: float = 1.26
    w_novel: float = -1.249
    w_window_lexical: float = 2.245
    w_passage_lexical: float = -0.795
    w_passage_lexical_relative: float = 0.34
    w_passage_score: float = 2.279


LOCAL_TIMEOUT_S = 110.0
REMOTE_TIMEOUT_S = 60.0


class LLMSettings(BaseModel):
    """The chat model: llama.cpp in-process on a GGUF assembled from PyPI by default,
    or OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp server) via ``base_url``."""

    provider: Literal["none", "local", "openai", "openai_compatible"] = "local"
    model: str | None = Field(default=None, description="model name for openai/openai_compatible")
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="seconds per model call (default: 60 for a remote provider, per attempt; 110 for the local "
        "model, CPU-bound and slower on a busy machine, still under api.request_timeout_s)",
    )
    max_retries: int = Field(default=2, ge=0, le=10)
    concurrency: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="requests in flight to a remote provider (openai, openai_compatible); local: always 1",
    )
    n_threads: int = Field(default=1, ge=1, le=64, description="llama.cpp threads (local)")
    n_ctx: int = Field(default=4096, ge=512, le=32_768, description="llama.cpp context window (local)")
    model_cache: Path = Field(default=Path("var/models/llm"), description="where the local GGUF is assembled")

    @property
    def call_timeout_s(self) -> float:
        """``timeout_s``, or the default for the provider."""
        if self.timeout_s is not None:
            return self.timeout_s
        return LOCAL_TIMEOUT_S if self.provider == "local" else REMOTE_TIMEOUT_S

    @model_validator(mode="after")
    def _base_url_for_compatible(self) -> LLMSettings:
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError("provider 'openai_compatible' needs base_url")
        return self


class AnalysisSettings(BaseModel):
    max_rows: int = Field(default=100_000, ge=1)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_columns: int = Field(default=200, ge=1)
    top_k: int = Field(default=8, ge=1, le=50, description="insights returned (the rest are counted)")
    # 0.01, not the customary 0.05: BH bounds the false share over all of a table's findings, and the false
    # ones gather in the types with few true findings (at 0.05, a trend reported was false one time in
    # five on the planted tables; docs/insights.md).
    fdr_q: float = Field(
        default=0.01, gt=0.0, lt=1.0, description="false-discovery rate controlled (Benjamini–Hochberg) over all tests"
    )
    insight_budget_s: float = Field(
        default=2.5,
        gt=0.0,
        description="seconds for the insight engine: the whole table is always searched, one-filter subspaces "
        "while time is left",
    )
    min_subspace_rows: int = Field(default=30, ge=5, description="rows a subspace needs to be searched")
    prompt_version: int | None = Field(default=None, description="narration prompt version (default: latest)")
    profile_cache_entries: int = Field(
        default=256, ge=0, description="parsed tables and their insights kept by content for repeat requests (0: off)"
    )


class TablePlanSettings(BaseModel):
    """Limits of table questions answered by a typed plan (``analysis.plan``)."""

    max_rows: int = Field(default=1_000_000, ge=1, description="rows a plan may run on")
    timeout_s: float = Field(default=5.0, gt=0.0, description="execution time limit of one plan")
    sample_values: int = Field(default=3, ge=0, le=10, description="example values per column shown to the planner")
    # rules by default: on the held-out DABench half the local 0.5B model (hybrid) answered no question the
    # rules could not, turned refusals into wrong answers and took 17-76 s a call (docs/table-questions.md)
    planner: Literal["rules", "hybrid", "model"] = Field(
        default="rules",
        description="rules: plans from the question's @name[...] format only, else refuses; hybrid: the model "
        "fills what the rules cannot place, choosing among the table's columns; model: the model plans",
    )


class TrackingSettings(BaseModel):
    """MLflow: a SQLite file by default, a tracking server by setting ``uri``."""

    uri: str = "sqlite:///var/mlflow/mlflow.db"
    artifact_location: str = Field(
        default="var/mlflow/artifacts", description="a local path or a URI (s3://…, file://…)"
    )
    experiment: str = "insight-predictor"
    ui_url: str | None = Field(
        default="http://127.0.0.1:5000", description="the MLflow UI the workbench links runs to (none: no links)"
    )

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        if not uri.startswith(("sqlite:///", "http://", "https://", "postgresql://", "file:")):
            raise ValueError(
                "tracking uri must be sqlite:///PATH, file:PATH, postgresql://… or an "
                f"http(s) MLflow server, got {uri!r}"
            )
        return uri


class AuthSettings(BaseModel):
    """API keys (stored hashed in a SQLite file), each scoped to collections; per-key rate limits."""

    enabled: bool = Field(default=True, description="off only for a closed, trusted network")
    dev_mode: bool = Field(
        default=False, description="local development: keep an admin key in dev_key_path (`insight serve --dev`)"
    )
    keys_path: Path = Path("var/auth/keys.db")
    dev_key_path: Path = Field(
        default=Path("var/auth/dev-key"), description="where `insight serve --dev` keeps its local admin key"
    )
    cache_ttl_s: float = Field(
        default=2.0, ge=0.0, le=300.0, description="how long a verified key is trusted before the store is read again"
    )
    rate_limit: str = Field(
        default="1200/minute", description="per key, in the `limits` notation: '100/second', '600/minute', …"
    )

    @field_validator("rate_limit")
    @classmethod
    def _parsable_rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"rate_limit {value!r} is not in the '<count>/<period>' notation") from exc
        return value


class EvaluationSettings(BaseModel):
    """Prompt evaluation runs: where suites live, the model-output cache, MLflow experiment, bootstrap."""

    suites_dir: Path = Path("eval/suites")
    cache_dir: Path = Field(default=Path("var/eval/cache"), description="model outputs keyed by prompt/model/input")
    experiment: str = "insight-eval"
    bootstrap_samples: int = Field(default=2000, ge=100, le=100_000)
    seed: int = 0
    beir_dir: Path | None = Field(default=None, description="BEIR folder for suites whose dataset names none")
    max_jobs: int = Field(default=8, ge=1, le=1000, description="finished evaluation runs kept in memory by the API")
    max_running: int = Field(default=2, ge=1, le=64, description="API evaluation runs executing at once")
    max_queued: int = Field(default=16, ge=0, le=10_000, description="API evaluation runs waiting for a free slot")
    max_active_per_key: int = Field(
        default=4, ge=1, le=10_000, description="API evaluation runs one API key may have queued or running"
    )


class RaySettings(BaseModel):
    """Bulk jobs on Ray (``--engine ray``): join the cluster at ``address``, or start a small local Ray for the job."""

    address: str | None = Field(default=None, description="a running Ray cluster (ray://… or host:port); none: local")
    num_cpus: int | None = Field(default=None, ge=1, le=1024, description="local Ray only: CPUs it may use (all)")
    object_store_mb: int = Field(default=512, ge=64, le=1_000_000, description="local Ray only: object store size")
    actors: int = Field(default=2, ge=1, le=10_000, description="stateful workers per job (each loads its model once)")
    threads_per_actor: int = Field(default=1, ge=1, le=64, description="embedding threads inside each worker")
    cpus_per_actor: float = Field(
        default=0.5,
        gt=0.0,
        le=64.0,
        description="CPUs Ray reserves per worker: fractional, so on a small machine the read tasks still get one",
    )
    ingest_batch_chunks: int = Field(default=128, ge=1, le=100_000, description="chunks per embed-and-upsert call")
    predict_batch_rows: int = Field(default=100_000, ge=1, le=10_000_000, description="rows per predict call")
    predict_scorers: Literal["resident", "per_job"] = Field(
        default="resident",
        description="predict-batch on Ray: resident: named scorer actors kept on the cluster between jobs (one "
        "model load per actor per model, not per job); per_job: a Ray Data actor pool started for each job",
    )
    resident_idle_s: float = Field(
        default=900.0, gt=0.0, le=604_800.0, description="a resident scorer left unused this long exits"
    )
    call_timeout_s: float = Field(
        default=600.0, gt=0.0, le=86_400.0, description="resident scorers: longest wait for one call (a load, a block)"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INSIGHT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = Field(
        default="text", description="json: one JSON object per line, with the request id (for log shippers)"
    )
    prompts_dir: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parents[2] / "prompts",
        description="prompt templates, <name>/v<N>.yaml (default: the repository's prompts/)",
    )
    api: ApiSettings = Field(default_factory=ApiSettings)
    predictor: PredictorSettings = Field(default_factory=PredictorSettings)
    vectorstore: VectorStoreSettings = Field(default_factory=VectorStoreSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    table_plan: TablePlanSettings = Field(default_factory=TablePlanSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    ray: RaySettings = Field(default_factory=RaySettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment and ``.env``; cached so the CLI builds them once."""
    return Settings()
