"""Domain errors: one root, mapped to HTTP once in ``insight.api.errors``."""

from __future__ import annotations

from dataclasses import dataclass


class InsightError(Exception):
    """Root of every error the service raises on purpose."""

    code = "insight_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where it is (JSON path) and what is wrong with it."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InvalidInput(InsightError):
    code = "invalid_input"

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        first = problems[0]
        where = ".".join(str(part) for part in first.loc)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}: {first.msg}{more}")


class PlanRejected(InsightError):
    """A table plan that cannot run on this table (or at all): the problems, each one line."""

    code = "plan_rejected"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class PlanExecutionError(InsightError):
    """A valid table plan that could not be computed on this data (too few values, a limit reached)."""

    code = "plan_execution_failed"


class PayloadTooLarge(InsightError):
    code = "payload_too_large"


class ConfigError(InsightError):
    code = "config_error"


class ModelNotLoaded(InsightError):
    code = "model_not_loaded"


class ModelIntegrityError(InsightError):
    """A model artifact whose bytes do not match the sha256 recorded beside it."""

    code = "model_integrity_error"


class TargetsNotMet(InsightError):
    code = "targets_not_met"


class TrackingUnavailable(InsightError):
    code = "tracking_unavailable"


class DataChanged(InsightError):
    """The data's hash differs from the one recorded for the model or suite (override: ``--allow-data-change``)."""

    code = "data_changed"


class SuiteNotFound(InsightError):
    """No evaluation suite of that name (``eval/suites/<name>.yaml``)."""

    code = "suite_not_found"


class SuiteInvalid(ConfigError):
    """An evaluation suite or dataset file that cannot be used; the message names the file and field."""

    code = "suite_invalid"


class EvalRunNotFound(InsightError):
    code = "eval_run_not_found"


class CollectionNotFound(InsightError):
    code = "collection_not_found"


class CollectionExists(InsightError):
    code = "collection_exists"


class DocumentNotFound(InsightError):
    code = "document_not_found"


class VectorStoreUnavailable(InsightError):
    code = "vectorstore_unavailable"


class EmbeddingModelUnavailable(InsightError):
    """The embedding model or its tokenizer is missing, altered (sha256 mismatch) or unloadable."""

    code = "embedding_model_unavailable"


class TokenizerUnavailable(InsightError):
    """A tiktoken encoding that cannot be loaded offline (data missing, altered or unknown)."""

    code = "tokenizer_unavailable"


class UnsupportedFileType(InsightError):
    """A document whose extension no loader handles; the message lists the supported ones."""

    code = "unsupported_file_type"


class InvalidDocument(InsightError):
    """A document that cannot be read (corrupt, encrypted, malformed, empty); names the file."""

    code = "invalid_document"


class LLMUnavailable(InsightError):
    """The chat model cannot answer: not configured, not installed, unreachable, or failing (5xx) after retries."""

    code = "llm_unavailable"


class LLMNotConfigured(LLMUnavailable):
    """No chat model is configured (``INSIGHT_LLM__PROVIDER=none``)."""

    code = "llm_not_configured"


class LLMRequestRejected(LLMUnavailable):
    """The provider refused the request (bad key, unknown model, prompt too long): a setup problem."""

    code = "llm_request_rejected"


class LLMTimeout(InsightError):
    """The chat model did not answer within ``timeout_s`` (after retries)."""

    code = "llm_timeout"


class LLMRateLimited(InsightError):
    """The provider kept answering 429 after retries; ``retry_after_s`` is its hint when it gave one."""

    code = "llm_rate_limited"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OutputParseError(InsightError):
    """The model's output did not fit the requested schema, even after one repair attempt."""

    code = "output_parse_error"


class PromptNotFound(InsightError):
    code = "prompt_not_found"


class PromptInvalid(ConfigError):
    """A prompt file that cannot be used (bad YAML, missing field, variables that do not match the template)."""

    code = "prompt_invalid"


class Unauthenticated(InsightError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthenticated"


class Forbidden(InsightError):
    """A valid API key without the right this request needs (another collection, or a scope it lacks)."""

    code = "forbidden"


class KeyNotFound(InsightError):
    """No API key with that id in the key store."""

    code = "key_not_found"


class RateLimitExceeded(InsightError):
    """This API key sent more requests than its rate limit allows; ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EvalQueueFull(RateLimitExceeded):
    """Too many evaluation runs queued or running (overall, or for this API key); ``retry_after_s`` is a guess."""

    code = "eval_queue_full"
