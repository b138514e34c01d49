"""Evaluation suites: ``eval/suites/<name>.yaml``, validated, hashed, with their targets fixed in the file.

A suite says what is evaluated (``kind``), with which prompt versions and model, on which dataset,
which metrics, and the targets each must meet. The targets are part of the file and of its hash, so a
run records the criterion it was judged by, not only the score.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from insight.analysis.insights.model import DESCRIPTIVE_TYPES, INSIGHT_TYPES
from insight.errors import SuiteInvalid, SuiteNotFound
from insight.yamlfile import load_yaml_model

Kind = Literal["analysis", "ask", "retrieval", "predictor", "insights"]
_NAME = r"^[a-z0-9][a-z0-9_-]*$"
_AT_K = re.compile(r"^(ndcg|recall|mrr|precision|map)@([1-9][0-9]{0,3})$")

ANALYSIS_METRICS = frozenset(
    {"schema_valid", "grounded_rate", "reference_recall", "model_narration", "latency_p50", "latency_p95"}
    | {"input_tokens", "output_tokens"}
)
ASK_METRICS = frozenset(
    {"citation_precision", "citation_recall", "answer_f1", "found_rate", "judge_faithfulness", "judge_relevance"}
    | {"latency_p50", "latency_p95", "input_tokens", "output_tokens"}
    # cases with a list of gold ``answers`` (SQuAD): exact match and token F1 after SQuAD normalisation, the
    # gold answer contained in the answer text, and the best-graded relevant document among the citations
    | {"exact_match", "squad_f1", "answer_contained", "gold_cited"}
)
AnswerModeName = Literal["extractive", "generative", "passages"]
PROMPT_OF_MODE: dict[str, str] = {"generative": "rag_extract", "passages": "rag_answer"}
RETRIEVAL_METRICS = frozenset({"latency_p50", "latency_p95"})  # plus ndcg@k, recall@k, mrr@k, precision@k, map@k
CLASSIFIER_METRICS = frozenset({"accuracy", "f1", "roc_auc", "precision", "recall"})
# a regression model: R², errors in the target's unit (RMSE, MAE), MAPE as a fraction (0.1 = 10 %), and the
# direction of each prediction from the naive forecast (the training mean) against the actual's
REGRESSOR_METRICS = frozenset({"r2", "rmse", "mae", "mape", "directional_accuracy"})
PREDICTOR_METRICS = CLASSIFIER_METRICS | REGRESSOR_METRICS
JUDGE_METRICS = frozenset({"judge_faithfulness", "judge_relevance"})
# kind insights: recall.<type> and precision.<type> for every insight type, plus these (evaluation/planted.py)
INSIGHTS_METRICS = frozenset({"recall", "precision", "null_rate", "distractor_share", "latency_p50", "latency_p95"})
_PER_TYPE = re.compile(r"^(recall|precision)\.([a-z_]+)$")
PLANTED_TYPES: tuple[str, ...] = tuple(t for t in INSIGHT_TYPES if t not in DESCRIPTIVE_TYPES)
"""The tested insight types planted by evaluation/planted.py (the descriptive ones state and test nothing)."""
LOWER_IS_BETTER = frozenset(
    {"latency_p50", "latency_p95", "input_tokens", "output_tokens"}
    | {"null_rate", "distractor_share"}
    | {"rmse", "mae", "mape"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptSpec(_Strict):
    name: str
    versions: list[int] = Field(default_factory=list, description="empty: the latest version")


class ModelSpec(_Strict):
    """Overrides of the configured chat model (``INSIGHT_LLM__*``); unset fields keep the configuration."""

    provider: Literal["local", "openai", "openai_compatible"] | None = None
    model: str | None = None
    base_url: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)


class DatasetSpec(_Strict):
    """A JSONL file (``path``), a BEIR-layout folder (``beir``; null: from settings or ``--data``), or a
    SQuAD-layout folder (``squad``: BEIR files plus ``answers.jsonl``) of which one ``half`` is read."""

    path: Path | None = None
    beir: Path | None = None
    beir_from_settings: bool = False
    squad: Path | None = None
    split: str = "test"
    half: Literal["tune", "report", "all"] = Field(
        default="report", description="squad: questions of even-numbered articles (tune), odd (report), or all"
    )
    every: int = Field(
        default=1, ge=1, description="keep every n-th case: a sample spread over a large dataset, not its first lines"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        sources = sum([self.path is not None, self.beir is not None, self.beir_from_settings, self.squad is not None])
        if sources != 1:
            raise ValueError("give exactly one of 'path', 'beir', 'beir_from_settings: true' or 'squad'")
        return self

    @property
    def is_beir(self) -> bool:
        return self.path is None and self.squad is None


class PlantedSpec(_Strict):
    """kind insights: the seeded planted-pattern tables the insight engine is scored on (evaluation/planted.py)."""

    seed: int = 13
    tables_per_type: int = Field(default=10, ge=1, le=10_000)
    null_tables: int = Field(default=40, ge=0, le=100_000)
    min_rows: int = Field(default=200, ge=50)
    max_rows: int = Field(default=2000, ge=50)
    types: list[str] = Field(default_factory=list, description="planted types (empty: every insight type)")

    @model_validator(mode="after")
    def _valid(self) -> PlantedSpec:
        unknown = sorted(set(self.types) - set(PLANTED_TYPES))
        if unknown:
            raise ValueError(f"unknown insight types {unknown}; planted: {', '.join(PLANTED_TYPES)}")
        if self.min_rows > self.max_rows:
            raise ValueError("min_rows is above max_rows")
        return self


class Target(_Strict):
    metric: str
    op: Literal[">=", "<="] = ">="
    value: float
    gate_on: Literal["point", "lower_bound"] = Field(
        default="point", description="compare the point estimate, or the bootstrap interval's pessimistic bound"
    )

    def describe(self) -> str:
        bound = " (interval bound)" if self.gate_on == "lower_bound" else ""
        return f"{self.op} {self.value:g}{bound}"


class Suite(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    kind: Kind
    prompt: PromptSpec | None = None
    answer_mode: AnswerModeName | None = Field(
        default=None,
        description="ask: how the answer is made, as /ask's answer_mode; extractive takes no prompt, generative "
        "rag_extract, passages rag_answer (unset: from the prompt)",
    )
    model: ModelSpec = Field(default_factory=ModelSpec)
    dataset: DatasetSpec | None = None
    collection: str | None = Field(
        default=None, description="retrieval/ask: the collection searched; {corpus} → the BEIR folder's name"
    )
    corpus: Path | None = Field(default=None, description="retrieval/ask: a folder ingested into the collection")
    top_k: int = Field(default=10, ge=1, le=100)
    metrics: list[str] = Field(min_length=1)
    targets: list[Target] = Field(default_factory=list)
    repeats: int = Field(default=1, ge=1, le=20)
    concurrency: int = Field(default=2, ge=1, le=64)
    limit: int | None = Field(default=None, ge=1, description="evaluate only the first N cases")
    max_unmeasured: float = Field(
        default=0.2, ge=0.0, le=1.0, description="a metric with more unmeasured cases than this fails its target"
    )
    alias: str | None = Field(default=None, description="prompt alias moved to a version whose run passes")
    judge_prompt: str = "eval_judge"
    planted: PlantedSpec | None = Field(default=None, description="kind insights: the generated tables")
    model_config_path: Path | None = Field(
        default=None, description="kind predictor: the model config the model was trained with (default: settings)"
    )
    model_dir: Path | None = Field(
        default=None, description="kind predictor: the served model's folder (default: settings)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        allowed = {
            "analysis": ANALYSIS_METRICS,
            "ask": ASK_METRICS,
            "retrieval": RETRIEVAL_METRICS,
            "predictor": PREDICTOR_METRICS,
            "insights": INSIGHTS_METRICS,
        }[self.kind]
        for metric in self.metrics:
            ranked = self.kind in ("retrieval", "ask") and _AT_K.match(metric)
            per_type = self.kind == "insights" and _insight_type_metric(metric)
            if metric not in allowed and not ranked and not per_type:
                raise ValueError(f"metric {metric!r} is not measured for kind {self.kind!r}")
        for target in self.targets:
            if target.metric not in self.metrics:
                raise ValueError(f"target on {target.metric!r}, which is not in metrics")
        if self.answer_mode is not None and self.kind != "ask":
            raise ValueError("only kind 'ask' takes 'answer_mode'")
        if self.kind == "ask" and self.answer_mode == "extractive":
            if self.prompt is not None:
                raise ValueError("answer_mode 'extractive' calls no model: remove 'prompt'")
        elif self.kind in ("analysis", "ask") and self.prompt is None:
            raise ValueError(f"kind {self.kind!r} needs 'prompt'")
        wanted = PROMPT_OF_MODE.get(self.answer_mode or "")
        if wanted and self.prompt is not None and self.prompt.name != wanted:
            raise ValueError(
                f"answer_mode {self.answer_mode!r} answers with prompt {wanted!r}, not {self.prompt.name!r}"
            )
        if self.kind in ("retrieval", "predictor", "insights") and self.prompt is not None:
            raise ValueError(f"kind {self.kind!r} uses no prompt")
        if (self.kind == "insights") != (self.planted is not None):
            raise ValueError("kind 'insights' needs 'planted', and only it takes one")
        if self.kind not in ("predictor", "insights") and self.dataset is None:
            raise ValueError(f"kind {self.kind!r} needs 'dataset'")
        if self.kind != "predictor" and (self.model_config_path or self.model_dir):
            raise ValueError("only kind 'predictor' takes 'model_config_path' and 'model_dir'")
        if self.kind == "predictor" and {*self.metrics} & CLASSIFIER_METRICS and {*self.metrics} & REGRESSOR_METRICS:
            raise ValueError("a predictor suite scores a classifier or a regressor, not both: pick one set of metrics")
        if self.kind in ("retrieval", "ask") and not self.collection:
            raise ValueError(f"kind {self.kind!r} needs 'collection'")
        return self

    @property
    def uses_judge(self) -> bool:
        return bool(JUDGE_METRICS & set(self.metrics))

    @property
    def calls_model(self) -> bool:
        """Whether a run needs the chat model (an extractive ask suite does not, unless it is judged)."""
        if self.kind == "analysis":
            return True
        return self.kind == "ask" and (self.answer_mode != "extractive" or self.uses_judge)


def _insight_type_metric(metric: str) -> bool:
    """``recall.trend``, ``precision.dominance`` …: a per-type score of a planted insight type."""
    match = _PER_TYPE.match(metric)
    return bool(match and match.group(2) in PLANTED_TYPES)


def at_k(metric: str) -> tuple[str, int] | None:
    """``("ndcg", 10)`` for ``ndcg@10`` (``map@10``: mean average precision at 10); None without a cut-off."""
    match = _AT_K.match(metric)
    return (match.group(1), int(match.group(2))) if match else None


class LoadedSuite(BaseModel):
    model_config = ConfigDict(frozen=True)

    suite: Suite
    path: Path
    sha256: str


def load_suite_file(path: Path) -> LoadedSuite:
    suite, raw = load_yaml_model(path, Suite, what="suite", invalid=SuiteInvalid, unreadable=SuiteNotFound)
    return LoadedSuite(suite=suite, path=path, sha256=hashlib.sha256(raw).hexdigest())


def find_suite(name_or_path: str, suites_dir: Path) -> LoadedSuite:
    """A suite by file path, or by name in ``suites_dir`` (``<name>.yaml``)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return load_suite_file(candidate)
    if not re.match(_NAME, name_or_path):
        raise SuiteNotFound(f"no suite {name_or_path!r}")
    path = suites_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in suites_dir.glob("*.yaml"))) if suites_dir.is_dir() else "none"
        raise SuiteNotFound(f"no suite {name_or_path!r} in {suites_dir}; available: {known or 'none'}")
    return load_suite_file(path)


def list_suites(suites_dir: Path) -> list[LoadedSuite]:
    return [load_suite_file(path) for path in sorted(suites_dir.glob("*.yaml"))] if suites_dir.is_dir() else []
