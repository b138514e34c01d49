"""Runs a suite: every case (× repeats) through the chain under test, bounded concurrency, cached model
outputs, scores per case, then one ``RunResult`` per prompt version with intervals and the gate.

A case whose model call fails with a typed LLM error (timeout, rate limit, unavailable) or whose judge
fails is *unmeasured* for the metrics it could not give: counted and reported, never scored as 0, NaN,
or left out silently. An output that does not fit the schema is measured: it is invalid, and scores 0.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread
import numpy as np
import pandas as pd
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, ValidationError

from insight.analysis import AnalysisResponse, build_analyzer
from insight.config import LLMSettings, Settings
from insight.errors import (
    ConfigError,
    InsightError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    OutputParseError,
    SuiteInvalid,
)
from insight.evaluation.cache import OutputCache, cache_key
from insight.evaluation.datasets import Dataset, beir_corpus, load_beir, load_jsonl, load_squad
from insight.evaluation.metrics import (
    check_mape_defined,
    citation_scores,
    directional_hits,
    ranking_scores,
    reference_fact,
    reference_recall,
    regression_metric,
    sklearn_table,
    token_f1,
    unique_docs,
)
from insight.evaluation.squad import exact_match, normalise_answer, squad_f1
from insight.evaluation.stats import (
    MetricSummary,
    TargetResult,
    bootstrap,
    check_target,
    percentile_of,
    summarize,
)
from insight.evaluation.suites import JUDGE_METRICS, REGRESSOR_METRICS, DatasetSpec, LoadedSuite, Suite, at_k
from insight.llm.caching import CachingLLMClient, recording
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from insight.prompts import Prompt, PromptRegistry
from insight.rag.service import RagService

if TYPE_CHECKING:  # scikit-learn is imported when a predictor suite runs, not with the runner
    from insight.predictor.service import Predictions, Predictor

UNMEASURED_ERRORS = (LLMTimeout, LLMRateLimited, LLMUnavailable)
NO_JUDGEMENTS = "no_judgements"  # a case judged to have no relevant document: ranking and citations undefined
Progress = Callable[[int, int], None]
LLMFactory = Callable[[LLMSettings], LLMClient]
PredictorFactory = Callable[[], "Predictor"]


@dataclass
class CaseRecord:
    case_id: str
    repeat: int
    scores: dict[str, float] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)  # metric → why
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    output: str = ""
    cached: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "repeat": self.repeat,
            **{f"score.{k}": v for k, v in sorted(self.scores.items())},
            **{f"unmeasured.{k}": v for k, v in sorted(self.unmeasured.items())},
            "latency_ms": self.latency_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached": self.cached,
            "output": self.output,
            **{f"detail.{k}": v for k, v in sorted(self.detail.items())},
        }


@dataclass
class RunResult:
    suite: str
    kind: str
    suite_sha256: str
    dataset: str
    dataset_sha256: str
    prompt: dict[str, str | int] | None
    model: str | None
    params: dict[str, str]
    metrics: dict[str, MetricSummary]
    targets: list[TargetResult]
    cases: list[CaseRecord]
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0
    mlflow_run_id: str | None = None
    promoted: str | None = None

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.targets)

    @property
    def label(self) -> str:
        return f"{self.suite} v{self.prompt['prompt_version']}" if self.prompt else self.suite


class JudgeVerdict(BaseModel):
    """A grader's scores for one answer, each from 1 (poor) to 5 (excellent)."""

    faithfulness: int = Field(description="1-5: every claim in the answer is supported by the passages")
    relevance: int = Field(description="1-5: the answer addresses the question")
    reason: str = Field(default="", max_length=300, description="one sentence on the main problem, if any")


def _judge_score(value: int) -> float:
    return (min(5, max(1, value)) - 1) / 4.0


def _messages_key(messages: list[BaseMessage]) -> list[list[str]]:
    return [[message.type, str(message.content)] for message in messages]


@dataclass(frozen=True)
class CaseJob:
    """The cases of one suite and prompt version, for an executor that scores them elsewhere (Ray actors)."""

    suite: Suite
    prompt: Prompt | None
    cases: list[dict[str, Any]]
    repeats: int


class CaseExecutor(Protocol):
    """Scores a job's cases (× repeats) and returns their records in the job's order: index ``i * repeats + r``."""

    async def __call__(self, job: CaseJob, step: Callable[[], None]) -> list[CaseRecord]: ...


class Evaluator:
    """Runs suites with injected parts: tests pass fakes, the CLI and the API pass the real services.

    ``predictor``: the served model (the API passes its ``PredictorSlot.require``); without one it is loaded
    as the API loads it (``PredictorSlot.from_dir``) from ``settings.predictor.model_dir``.
    """

    def __init__(
        self,
        settings: Settings,
        prompts: PromptRegistry,
        *,
        llm_factory: LLMFactory | None = None,
        rag_factory: Callable[[], RagService] | None = None,
        predictor: PredictorFactory | None = None,
        cache: OutputCache | None = None,
        executor: CaseExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.prompts = prompts
        self._llm_factory = llm_factory
        self._rag_factory = rag_factory
        self._predictor_factory = predictor
        self.cache = cache if cache is not None else OutputCache(settings.evaluation.cache_dir)

    # -- parts ------------------------------------------------------------------------------------
    def llm_settings(self, suite: Suite) -> LLMSettings:
        overrides = suite.model.model_dump(exclude_none=True)
        return self.settings.llm.model_copy(update=overrides) if overrides else self.settings.llm

    def model_label(self, suite: Suite, llm: LLMClient | None) -> str | None:
        """``provider/model`` of the chat model a run uses: the built client's, or (when workers build it) the
        name the same settings give; None for a suite that calls no model."""
        if llm is not None:
            return f"{llm.provider}/{llm.model_name}"
        if not suite.calls_model:
            return None
        settings = self.llm_settings(suite)
        if settings.provider == "local":  # the embedded model is named by its file, whatever ``model`` says
            from insight.llm.local_model import LOCAL_MODEL_NAME

            return f"local/{LOCAL_MODEL_NAME}"
        return f"{settings.provider}/{settings.model}" if settings.model else settings.provider

    def _llm(self, suite: Suite) -> LLMClient:
        llm_settings = self.llm_settings(suite)
        if self._llm_factory is not None:
            return self._llm_factory(llm_settings)
        from insight.llm import build_llm_client

        return build_llm_client(llm_settings)

    def _rag(self) -> RagService:
        if self._rag_factory is not None:
            return self._rag_factory()
        from insight.rag.factory import build_rag_service

        return build_rag_service(self.settings)

    def predictor(self, model_dir: Path | None = None) -> Predictor:
        """The served model, or the one in ``model_dir`` (a predictor suite's own model)."""
        if self._predictor_factory is not None and model_dir is None:
            return self._predictor_factory()
        from insight.predictor.service import PredictorSlot

        return PredictorSlot.from_dir(model_dir or self.settings.predictor.model_dir).require()

    def dataset(self, suite: Suite, data: Path | None = None) -> Dataset:
        spec = suite.dataset
        if spec is None:
            raise SuiteInvalid(f"suite {suite.name} has no dataset")
        dataset = self._load_dataset(suite, spec, data)
        if spec.every > 1:
            dataset = replace(dataset, name=f"{dataset.name}-every-{spec.every}", cases=dataset.cases[:: spec.every])
        return dataset

    def _load_dataset(self, suite: Suite, spec: DatasetSpec, data: Path | None) -> Dataset:
        if data is not None:
            if not data.is_dir():
                return load_jsonl(data)
            return load_squad(data, spec.half) if spec.squad is not None else load_beir(data, spec.split)
        if spec.path is not None:
            return load_jsonl(spec.path)
        if spec.squad is not None:
            return load_squad(spec.squad, spec.half)
        folder = spec.beir or self.settings.evaluation.beir_dir
        if folder is None:
            raise SuiteInvalid(
                f"suite {suite.name} reads a BEIR folder: give it with --data PATH or INSIGHT_EVALUATION__BEIR_DIR"
            )
        return load_beir(folder, spec.split)

    def versions(self, suite: Suite, requested: list[int] | None) -> list[Prompt]:
        if suite.prompt is None:
            return []
        versions = requested or suite.prompt.versions or [None]  # type: ignore[list-item]
        return [self.prompts.get(suite.prompt.name, version) for version in versions]

    # -- the run ----------------------------------------------------------------------------------
    async def run(
        self,
        loaded: LoadedSuite,
        *,
        versions: list[int] | None = None,
        data: Path | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> list[RunResult]:
        """One result per prompt version (one for suites without a prompt)."""
        suite = loaded.suite
        if suite.kind == "predictor":
            result = await anyio.to_thread.run_sync(self._run_predictor, loaded)
            if progress is not None:
                progress(len(result.cases), len(result.cases))
            return [result]
        if suite.kind == "insights":  # the insight engine on generated planted-pattern tables: no model, no dataset
            planted = await anyio.to_thread.run_sync(lambda: self._run_insights(loaded, limit or suite.limit, progress))
            return [planted]
        dataset = await anyio.to_thread.run_sync(self.dataset, suite, data)  # file reading, off the event loop
        if suite.collection and "{corpus}" in suite.collection:
            corpus = Path(dataset.source).name if dataset.corpus is not None else dataset.name
            suite = suite.model_copy(update={"collection": suite.collection.replace("{corpus}", corpus)})
        cases = dataset.cases[: limit or suite.limit or None]
        prompts = self.versions(suite, versions)
        rag = await anyio.to_thread.run_sync(self._rag) if suite.kind in ("retrieval", "ask") else None
        if rag is not None:
            await anyio.to_thread.run_sync(self._ensure_corpus, rag, suite, dataset)
        # an executor's workers build their own chat clients: the driver does not load a model just to name it
        llm = await anyio.to_thread.run_sync(self._llm, suite) if suite.calls_model and not self.executor else None
        model = self.model_label(suite, llm)
        total = len(cases) * suite.repeats * max(1, len(prompts))
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        results = []
        chosen: list[Prompt | None] = [*prompts] if prompts else [None]
        for prompt in chosen:
            started = time.perf_counter()
            hits, misses = self.cache.hits, self.cache.misses
            if self.executor is not None:
                records = await self.executor(CaseJob(suite, prompt, cases, suite.repeats), step)
            else:
                records = await self._run_cases(suite, cases, self._scorer(suite, prompt, llm, rag), step)
            # ranx (numba: seconds to load, tens of seconds to compile the first time) and the bootstrap:
            # a worker thread
            result = await anyio.to_thread.run_sync(self._result, loaded, suite, dataset, prompt, model, records)
            result.cache_hits, result.cache_misses = self.cache.hits - hits, self.cache.misses - misses
            result.seconds = round(time.perf_counter() - started, 2)
            results.append(result)
        return results

    async def _run_cases(
        self,
        suite: Suite,
        cases: list[dict[str, Any]],
        score: Callable[[dict[str, Any], int], Awaitable[CaseRecord]],
        step: Callable[[], None],
    ) -> list[CaseRecord]:
        limiter = anyio.CapacityLimiter(suite.concurrency)
        records: list[CaseRecord | None] = [None] * (len(cases) * suite.repeats)

        async def one(index: int, case: dict[str, Any], repeat: int) -> None:
            async with limiter:
                records[index] = await score(case, repeat)
            step()

        async with anyio.create_task_group() as group:
            for i, case in enumerate(cases):
                for repeat in range(suite.repeats):
                    group.start_soon(one, i * suite.repeats + repeat, case, repeat)
        return [record for record in records if record is not None]

    def scorer_for(self, job: CaseJob) -> Callable[[dict[str, Any], int], Awaitable[CaseRecord]]:
        """The scorer of a job's suite and prompt, on this evaluator's own services (an executor's worker)."""
        suite = job.suite
        rag = self._rag() if suite.kind in ("retrieval", "ask") else None
        llm = self._llm(suite) if suite.calls_model else None
        return self._scorer(suite, job.prompt, llm, rag)

    def _scorer(
        self, suite: Suite, prompt: Prompt | None, llm: LLMClient | None, rag: RagService | None
    ) -> Callable[[dict[str, Any], int], Awaitable[CaseRecord]]:
        if suite.kind == "analysis":
            assert prompt is not None and llm is not None
            return AnalysisScorer(self, suite, prompt, llm).score
        if suite.kind == "ask":
            assert rag is not None and (llm is not None or not suite.calls_model)
            return AskScorer(self, suite, prompt, llm, rag).score
        assert rag is not None
        return RetrievalScorer(self, suite, rag).score

    def _ensure_corpus(self, rag: RagService, suite: Suite, dataset: Dataset) -> None:
        """Ingest the suite's corpus into its collection (unchanged documents are skipped: a re-run is cheap)."""
        from insight.rag.ingest import SourceDocument
        from insight.rag.loaders import SUPPORTED_EXTENSIONS, LoadedDocument
        from insight.rag.sources import documents_from_file
        from insight.reader import walk_folder

        assert suite.collection is not None
        documents: list[SourceDocument] = []
        if dataset.corpus is not None:
            documents = [
                SourceDocument(
                    doc_id=str(record["_id"]),
                    document=LoadedDocument(
                        source=dataset.corpus.name,
                        title=str(record.get("title") or record["_id"]),
                        text=str(record.get("text", "")),
                        kind="jsonl",
                    ),
                )
                for record in beir_corpus(dataset.corpus)
            ]
        elif suite.corpus is not None:
            if not suite.corpus.is_dir():
                raise SuiteInvalid(f"suite {suite.name}: corpus folder {suite.corpus} does not exist")
            for path, doc_id in walk_folder(suite.corpus, SUPPORTED_EXTENSIONS).files:  # links out are skipped
                documents.extend(documents_from_file(str(path), path.read_bytes(), {}, doc_id=doc_id))
        if documents:
            report = rag.ingest(suite.collection, documents)
            if report.failed:
                raise SuiteInvalid(f"suite {suite.name}: corpus documents failed to ingest: {report.failed[:3]}")

    # -- results ----------------------------------------------------------------------------------
    def _summaries(self, suite: Suite, records: list[CaseRecord]) -> dict[str, MetricSummary]:
        by_case: dict[str, list[CaseRecord]] = {}
        for record in records:
            by_case.setdefault(record.case_id, []).append(record)
        samples, seed = self.settings.evaluation.bootstrap_samples, self.settings.evaluation.seed
        summaries = {}
        for metric in suite.metrics:
            per_case: dict[str, float | None] = {}
            reasons: dict[str, str] = {}
            for case_id, repeats in by_case.items():
                values = [_metric_value(metric, r) for r in repeats]
                measured = [v for v in values if v is not None]
                per_case[case_id] = float(np.mean(measured)) if measured else None
                if not measured:
                    reasons[case_id] = next(
                        (r.unmeasured.get(metric) or r.unmeasured.get("*", "") for r in repeats), "unknown"
                    )
            statistic = None
            if metric in ("latency_p50", "latency_p95"):
                q = 50.0 if metric == "latency_p50" else 95.0
                statistic = lambda values, q=q: percentile_of(values, q)  # noqa: E731
            summaries[metric] = summarize(metric, per_case, reasons, samples=samples, seed=seed, statistic=statistic)
        return summaries

    def _result(
        self,
        loaded: LoadedSuite,
        suite: Suite,
        dataset: Dataset,
        prompt: Prompt | None,
        model: str | None,
        records: list[CaseRecord],
    ) -> RunResult:
        if suite.kind in ("retrieval", "ask"):
            _add_ranking_scores(suite, records)
        summaries = self._summaries(suite, records)
        targets = [check_target(t, summaries.get(t.metric), suite.max_unmeasured) for t in suite.targets]
        params = {
            "suite": suite.name,
            "kind": suite.kind,
            "suite_sha256": loaded.sha256,
            "dataset": dataset.name,
            "dataset_source": dataset.source,
            "dataset_sha256": dataset.sha256,
            "cases": str(len({r.case_id for r in records})),
            "repeats": str(suite.repeats),
            "bootstrap_samples": str(self.settings.evaluation.bootstrap_samples),
            "seed": str(self.settings.evaluation.seed),
        }
        if prompt is not None:
            params |= {k: str(v) for k, v in prompt.metadata.items()}
        if model is not None:
            params["model"] = model
        if suite.kind in ("retrieval", "ask"):
            params |= {"collection": str(suite.collection), "top_k": str(suite.top_k)}
        return RunResult(
            suite=suite.name,
            kind=suite.kind,
            suite_sha256=loaded.sha256,
            dataset=dataset.name,
            dataset_sha256=dataset.sha256,
            prompt=dict(prompt.metadata) if prompt is not None else None,
            model=model,
            params=params,
            metrics=summaries,
            targets=targets,
            cases=records,
        )

    def _run_insights(self, loaded: LoadedSuite, limit: int | None, progress: Progress | None) -> RunResult:
        from insight.evaluation.planted import run_planted

        suite = loaded.suite
        run = run_planted(suite, self.settings, limit=limit, progress=progress)
        records = [
            CaseRecord(c.case_id, 0, scores=c.scores, latency_ms=c.latency_ms, output=c.output, detail=c.detail)
            for c in run.cases
        ]
        params = {
            "suite": suite.name,
            "kind": suite.kind,
            "suite_sha256": loaded.sha256,
            "dataset": run.dataset,
            "dataset_sha256": run.dataset_sha256,
            "cases": str(len(records)),
            **run.params,
            "bootstrap_samples": str(self.settings.evaluation.bootstrap_samples),
            "seed": str(self.settings.evaluation.seed),
        }
        return RunResult(
            suite=suite.name,
            kind=suite.kind,
            suite_sha256=loaded.sha256,
            dataset=run.dataset,
            dataset_sha256=run.dataset_sha256,
            prompt=None,
            model=None,
            params=params,
            metrics=run.metrics,
            targets=run.targets,
            cases=records,
            seconds=run.seconds,
        )

    def _run_predictor(self, loaded: LoadedSuite) -> RunResult:
        """The served model on the test split it was trained against, through ``Predictor.predict`` (what
        ``/predict/batch`` calls). The split is rebuilt from the model config, so the config must be the one
        the model was trained with (its sha256 is recorded in the model's metadata), and the data too."""
        from insight.predictor.config import load_model_config
        from insight.predictor.data import load_dataset, split_dataset

        suite = loaded.suite
        started = time.perf_counter()
        predictor = self.predictor(suite.model_dir)
        metadata = predictor.metadata
        config_path = suite.model_config_path or self.settings.predictor.config_path
        config = load_model_config(config_path)
        served = f"the served model {metadata.name} v{metadata.version}"
        if config.sha256 != metadata.config_sha256:
            raise ConfigError(
                f"suite {suite.name}: {served} was trained with a model config of sha256 "
                f"{metadata.config_sha256[:12] or '(none)'}…, but {config_path} is now {config.sha256[:12]}…, so "
                "the test split it was measured on cannot be rebuilt: restore that config, or retrain (`insight "
                "train`) and serve the new model"
            )
        data = load_dataset(config.dataset)
        split = split_dataset(data, config.test_size, config.random_state)
        if data.digest != metadata.data_digest or len(split.test_y) != metadata.n_test:
            raise ConfigError(
                f"suite {suite.name}: the {config.dataset} data is not what {served} was trained on "
                f"(digest {data.digest[:12]}… against {metadata.data_digest[:12]}…, {len(split.test_y)} test rows "
                f"against {metadata.n_test}): retrain (`insight train`)"
            )
        wanted = "regression" if set(suite.metrics) <= REGRESSOR_METRICS else "classification"
        if metadata.task != wanted:
            raise SuiteInvalid(
                f"suite {suite.name} scores a {wanted} model with {', '.join(suite.metrics)}, but {served} is a "
                f"{metadata.task} model: give the suite the matching model_dir and model_config_path"
            )
        samples, seed = self.settings.evaluation.bootstrap_samples, self.settings.evaluation.seed
        predictions = predictor.predict(split.test_x)
        if metadata.task == "regression":
            naive = float(np.mean(split.train_y))
            records, summaries = _regression_summaries(
                suite.metrics, np.asarray(split.test_y, dtype=np.float64), predictions.values, naive, samples, seed
            )
        else:
            records, summaries = _classifier_summaries(
                suite.metrics, np.asarray(split.test_y), predictions, samples, seed
            )
        targets = [check_target(t, summaries.get(t.metric), suite.max_unmeasured) for t in suite.targets]
        params = {
            "suite": suite.name,
            "kind": suite.kind,
            "task": metadata.task,
            "suite_sha256": loaded.sha256,
            "dataset": f"{data.name} test split",
            "dataset_sha256": data.digest,
            "test_size": str(config.test_size),
            "split_seed": str(config.random_state),
            "cases": str(len(records)),
            "model": f"{metadata.name} v{metadata.version}",
            "model_sha256": metadata.sha256,
            "config_sha256": config.sha256,
            "bootstrap_samples": str(samples),
            "seed": str(seed),
        }
        return RunResult(
            suite=suite.name,
            kind=suite.kind,
            suite_sha256=loaded.sha256,
            dataset=params["dataset"],
            dataset_sha256=data.digest,
            prompt=None,
            model=params["model"],
            params=params,
            metrics=summaries,
            targets=targets,
            cases=records,
            seconds=round(time.perf_counter() - started, 2),
        )


def _classifier_summaries(
    metrics: list[str], truth: np.ndarray, predictions: Predictions, samples: int, seed: int
) -> tuple[list[CaseRecord], dict[str, MetricSummary]]:
    """A classifier's test rows as cases, each metric with a bootstrap interval over them."""
    proba = np.asarray(predictions.probabilities[:, 1], dtype=np.float64)
    records = [
        CaseRecord(
            case_id=f"test-{i}",
            repeat=0,
            detail={"label": int(y), "proba": round(float(p), 6), "prediction": int(c), "confidence": float(conf)},
        )
        for i, (y, p, c, conf) in enumerate(zip(truth, proba, predictions.classes, predictions.confidence, strict=True))
    ]
    summaries = {}
    for metric in metrics:
        value, low, high = _bootstrap_classifier(metric, truth, proba, samples, seed)
        summaries[metric] = MetricSummary(metric, value, low, high, len(truth), 0)
    return records, summaries


def _regression_summaries(
    metrics: list[str], truth: np.ndarray, values: np.ndarray, naive: float, samples: int, seed: int
) -> tuple[list[CaseRecord], dict[str, MetricSummary]]:
    """A regressor's test rows as cases: R², RMSE, MAE, MAPE with a bootstrap interval over the rows, and
    directional accuracy against the naive forecast (the training mean): did the model put each row on the
    right side of it? A row whose actual equals the mean has no direction and is unmeasured."""
    if "mape" in metrics:
        check_mape_defined(truth)
    hits = directional_hits(np.full_like(truth, naive), truth, values)
    records = [
        CaseRecord(
            case_id=f"test-{i}",
            repeat=0,
            detail={"actual": float(y), "predicted": round(float(v), 6)},
            scores={} if np.isnan(h) else {"directional_accuracy": float(h)},
            unmeasured={"directional_accuracy": "no_direction"} if np.isnan(h) else {},
        )
        for i, (y, v, h) in enumerate(zip(truth, values, hits, strict=True))
    ]
    summaries = {}
    for metric in metrics:
        if metric == "directional_accuracy":
            per_case = {r.case_id: r.scores.get(metric) for r in records}
            reasons = {r.case_id: r.unmeasured[metric] for r in records if metric in r.unmeasured}
            summaries[metric] = summarize(metric, per_case, reasons, samples=samples, seed=seed)
            continue
        value, low, high = _bootstrap_regression(metric, truth, values, samples, seed)
        summaries[metric] = MetricSummary(metric, value, low, high, len(truth), 0)
    return records, summaries


def classifier_metric(metric: str, truth: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """A classification metric for each row of ``truth``/``proba`` (shape (B, n)), vectorised over B.

    Threshold 0.5 and positive class 1 as in training; ROC AUC by the rank-sum formula with tied scores
    averaged (equal to scikit-learn's); NaN where a resample holds one class only.
    """
    from scipy.stats import rankdata

    positive = truth == 1
    predicted = proba >= 0.5
    tp = (positive & predicted).sum(axis=1).astype(np.float64)
    fp = (~positive & predicted).sum(axis=1).astype(np.float64)
    fn = (positive & ~predicted).sum(axis=1).astype(np.float64)
    n_pos = positive.sum(axis=1).astype(np.float64)
    n_neg = truth.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return np.asarray((predicted == positive).mean(axis=1), dtype=np.float64)
        if metric == "precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        if metric == "recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        if metric == "f1":
            return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        ranks = rankdata(proba, axis=1)
        rank_sum = np.where(positive, ranks, 0.0).sum(axis=1)
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return np.asarray(np.where((n_pos > 0) & (n_neg > 0), auc, np.nan), dtype=np.float64)


def _bootstrap_classifier(
    metric: str, truth: np.ndarray, proba: np.ndarray, samples: int, seed: int
) -> tuple[float, float, float]:
    """A classification metric on the test split, with a bootstrap interval over its rows."""
    return bootstrap(lambda idx: classifier_metric(metric, truth[idx], proba[idx]), len(truth), samples, seed)


def _bootstrap_regression(
    metric: str, truth: np.ndarray, values: np.ndarray, samples: int, seed: int
) -> tuple[float, float, float]:
    """A regression metric on the test split, with a bootstrap interval over its rows."""
    return bootstrap(lambda idx: regression_metric(metric, truth[idx], values[idx]), len(truth), samples, seed)


def _metric_value(metric: str, record: CaseRecord) -> float | None:
    if metric in ("latency_p50", "latency_p95"):
        return record.latency_ms
    if metric == "input_tokens":
        return float(record.input_tokens) if record.input_tokens is not None else None
    if metric == "output_tokens":
        return float(record.output_tokens) if record.output_tokens is not None else None
    return record.scores.get(metric)


def _add_ranking_scores(suite: Suite, records: list[CaseRecord]) -> None:
    """ndcg@k, recall@k, mrr@k, precision@k for every record with a ranking (computed by ranx in one batch)."""
    ranked = [m for m in suite.metrics if at_k(m)]
    if not ranked:
        return
    measured = [r for r in records if "ranking" in r.detail]
    keys = {f"{r.case_id}#{r.repeat}": r for r in measured}
    qrels = {key: r.detail["relevant"] for key, r in keys.items()}
    run = {key: list(r.detail["ranking"]) for key, r in keys.items()}
    scores = ranking_scores(qrels, run, ranked)
    for metric in ranked:
        for key, record in keys.items():
            record.scores[metric] = scores[metric][key]


def _relevant(case: dict[str, Any]) -> dict[str, int]:
    relevant = case.get("relevant")
    if not isinstance(relevant, dict):
        raise SuiteInvalid(f"case {case.get('id')!r} needs 'relevant': {{doc_id: grade}} (empty: unanswerable)")
    return {str(doc): int(grade) for doc, grade in relevant.items()}


def _query(case: dict[str, Any]) -> str:
    query = case.get("query") or case.get("question")
    if not isinstance(query, str) or not query.strip():
        raise SuiteInvalid(f"case {case.get('id')!r} needs a 'query'")
    return query


class RetrievalScorer:
    def __init__(self, evaluator: Evaluator, suite: Suite, rag: RagService) -> None:
        self.suite = suite
        self.rag = rag
        cutoffs = [k for m in suite.metrics if (parsed := at_k(m)) for k in [parsed[1]]]
        self.depth = max([suite.top_k, *cutoffs])
        self.max_top_k = evaluator.settings.search.max_top_k

    def _search(self, query: str) -> list[str]:
        hits = self.rag.search(str(self.suite.collection), query, top_k=min(self.max_top_k, self.depth * 3))
        return unique_docs((hit.doc_id for hit in hits), self.depth)

    async def score(self, case: dict[str, Any], repeat: int) -> CaseRecord:
        relevant, query = _relevant(case), _query(case)
        started = time.perf_counter()
        ranking = await anyio.to_thread.run_sync(self._search, query)
        latency = round((time.perf_counter() - started) * 1000.0, 2)
        record = CaseRecord(case_id=case["id"], repeat=repeat, latency_ms=latency, output=" ".join(ranking[:10]))
        if relevant:
            record.detail = {"ranking": ranking, "relevant": relevant}
        else:
            record.unmeasured["*"] = NO_JUDGEMENTS
        return record


class AnalysisScorer:
    """Scores what the analysis service returns: the same ``Analyzer`` (``build_analyzer``) the API and the
    CLI use, with the suite's model and prompt version; the response is recorded as the service gave it."""

    def __init__(self, evaluator: Evaluator, suite: Suite, prompt: Prompt, llm: LLMClient) -> None:
        self.evaluator = evaluator
        self.suite = suite
        self.prompt = prompt
        self.llm = llm
        analysis = evaluator.settings.analysis.model_copy(update={"prompt_version": prompt.version})
        slot = LLMSlot(llm.settings, client=llm)
        self.analyzer = build_analyzer(analysis, evaluator.prompts, slot)
        if self.analyzer.prompt.name != prompt.name:
            narration = self.analyzer.prompt.name
            raise SuiteInvalid(f"suite {suite.name}: analysis suites narrate with the {narration!r} prompt")
        self.tables: dict[str, pd.DataFrame] = {}

    def table(self, case: dict[str, Any]) -> pd.DataFrame:
        name = case.get("table")
        if not isinstance(name, str):
            raise SuiteInvalid(f"case {case.get('id')!r} needs 'table' (iris, wine or diabetes)")
        if name not in self.tables:
            self.tables[name] = sklearn_table(name)
        return self.tables[name]

    async def score(self, case: dict[str, Any], repeat: int) -> CaseRecord:
        frame = self.table(case)
        references = [reference_fact(frame, key) for key in case.get("references", [])]
        question, domain = case.get("question"), case.get("domain")
        computed = await anyio.to_thread.run_sync(self.analyzer.compute, frame, question)
        messages = self.analyzer.messages(computed.report, question, domain)
        key = cache_key(
            kind="analysis",
            prompt_sha256=self.prompt.sha256,
            repair_prompt_sha256=self.llm.repair_prompt.sha256,
            model=f"{self.llm.provider}/{self.llm.model_name}",
            params=self.evaluator.llm_settings(self.suite).model_dump(include={"temperature", "max_tokens"}),
            input=_messages_key(messages),
            repeat=repeat if self.suite.repeats > 1 else 0,
        )
        record = CaseRecord(case_id=case["id"], repeat=repeat)
        cached = self.evaluator.cache.get(key)
        if cached is None:
            response = await self.analyzer.narrate(computed, question, domain)
            cached = {"response": response.model_dump(mode="json")}
            self.evaluator.cache.put(key, cached)
        else:
            record.cached = True
        try:
            response = AnalysisResponse.model_validate(cached["response"])
        except (KeyError, ValidationError):
            record.scores |= {"schema_valid": 0.0, "grounded_rate": 0.0, "reference_recall": 0.0}
            record.output = "invalid cached output"
            return record
        meta = response.meta
        record.latency_ms = meta.latency_ms + meta.profile_ms
        record.input_tokens = meta.input_tokens
        record.output_tokens = meta.output_tokens
        record.scores |= {
            "schema_valid": 1.0,
            "grounded_rate": response.grounding.grounded_rate,
            "reference_recall": reference_recall(response.result, references),
            "model_narration": 1.0 if meta.narrator == "model" else 0.0,
        }
        record.output = response.result.summary
        record.detail = {
            "unsupported": [n.text for n in response.grounding.unsupported],
            "narrator": meta.narrator,
            "narrator_reason": meta.narrator_reason,
            "insights": [i.id for i in response.insights],
        }
        return record


SPAN_METRICS = ("exact_match", "squad_f1", "answer_contained")


def span_scores(answer: str, gold: Any) -> dict[str, float]:
    """SQuAD exact match and token F1 (best over the gold answers), and whether a gold answer is contained in
    the answer (normalised); nothing for a case without a list of gold ``answers``."""
    if not isinstance(gold, list) or not gold:
        return {}
    golds = [str(g) for g in gold]
    normalised = f" {normalise_answer(answer)} "
    return {
        "exact_match": max(exact_match(answer, g) for g in golds),
        "squad_f1": max(squad_f1(answer, g) for g in golds),
        "answer_contained": float(any(f" {normalise_answer(g)} " in normalised for g in golds)),
    }


class AskScorer:
    """Scores what the ask service returns: the same ``Answerer`` (``build_answerer``) the API and the CLI use,
    with the suite's prompt version, called as ``POST /api/v1/ask`` calls it (``answer``). Its chat client is
    the evaluation's ``CachingLLMClient``: a re-run replays the recorded model outputs through the real service.

    Recorded as the service reports them: the answer text, citations, ``found``, tokens and latency (plus,
    for replayed calls, the model time recorded with them). The ranking scored by ndcg@k and the like is the
    passages the service put in front of the model, best first; the judge sees the passages the answer was
    written from (``Answer.answered_context``: the chosen ones from ``rag_answer`` v2).
    """

    def __init__(
        self, evaluator: Evaluator, suite: Suite, prompt: Prompt | None, llm: LLMClient | None, rag: RagService
    ) -> None:
        if prompt is not None and set(prompt.input_variables) != {"context", "question"}:
            raise SuiteInvalid(f"prompt {prompt.name} v{prompt.version} must take exactly {{context}} and {{question}}")
        from insight.rag.answer import build_answerer

        self.suite = suite
        self.llm: CachingLLMClient | None = CachingLLMClient(llm, evaluator.cache) if llm is not None else None
        answer_settings = evaluator.settings.answer
        if suite.answer_mode == "extractive":
            answer_settings = answer_settings.model_copy(update={"mode": "extractive"})
        self.answerer = build_answerer(
            evaluator.settings.search,
            rag,
            self.llm if self.llm is not None else LLMSlot(LLMSettings(provider="none")),  # extractive: no model
            evaluator.prompts,
            prompt_name=prompt.name if prompt is not None else None,
            prompt_version=prompt.version if prompt is not None else None,
            answer=answer_settings,
        )
        self.judge = evaluator.prompts.get(suite.judge_prompt) if suite.uses_judge else None

    async def score(self, case: dict[str, Any], repeat: int) -> CaseRecord:
        relevant_docs, query = _relevant(case), _query(case)
        record = CaseRecord(case_id=case["id"], repeat=repeat)
        with recording(variant=repeat if self.suite.repeats > 1 else 0) as calls:
            try:
                answer = await self.answerer.answer(str(self.suite.collection), query, self.suite.top_k)
            except UNMEASURED_ERRORS as exc:
                record.unmeasured["*"] = exc.code
                record.output = exc.message
                return record
            except OutputParseError as exc:  # /ask answers 502: measured, an invalid answer that scores 0
                return self._invalid(record, case, relevant_docs, exc)
        record.cached = calls.all_replayed
        record.latency_ms = round(float(answer.meta["latency_ms"]) + calls.replayed_ms, 1)
        record.input_tokens = int(answer.meta["input_tokens"])
        record.output_tokens = int(answer.meta["output_tokens"])
        record.output = answer.answer
        if not relevant_docs:  # an unanswerable case: its quality metrics are not defined, only its cost
            record.unmeasured["*"] = NO_JUDGEMENTS
            record.detail = {"found": answer.found}
            return record
        cited = list(dict.fromkeys(c.doc_id for c in answer.citations))
        precision, recall = citation_scores(cited, relevant_docs)
        record.scores |= {"citation_precision": precision, "citation_recall": recall, "found_rate": float(answer.found)}
        reference = case.get("answer")
        if isinstance(reference, str) and reference.strip():
            record.scores["answer_f1"] = token_f1(answer.answer if answer.found else "", reference)
        else:
            record.unmeasured["answer_f1"] = "no_reference_answer"
        spans = span_scores(answer.answer if answer.found else "", case.get("answers"))
        record.scores |= spans
        if not spans:
            record.unmeasured |= dict.fromkeys(SPAN_METRICS, "no_gold_answers")
        record.scores["gold_cited"] = float(recall > 0)  # recall counts the top-grade documents cited
        record.detail = {
            "relevant": relevant_docs,
            "ranking": unique_docs((hit.doc_id for hit in answer.passages), 100),
            "cited": cited,
            "invalid_markers": answer.invalid_citations,
        }
        if answer.meta.get("requested_mode") == "generative":
            record.detail["fallback_reason"] = answer.meta.get("fallback_reason")
        if self.judge is not None:
            await self._judge(record, query, answer.answered_context(), answer.answer, answer.found)
        return record

    def _invalid(
        self, record: CaseRecord, case: dict[str, Any], relevant_docs: dict[str, int], exc: OutputParseError
    ) -> CaseRecord:
        record.output = exc.message
        record.detail = {"error": exc.code}
        if not relevant_docs:
            record.unmeasured["*"] = NO_JUDGEMENTS
            return record
        record.scores |= {"citation_precision": 0.0, "citation_recall": 0.0, "found_rate": 0.0, "gold_cited": 0.0}
        if isinstance(case.get("answer"), str) and case["answer"].strip():
            record.scores["answer_f1"] = 0.0
        record.scores |= span_scores("", case.get("answers"))
        for metric in JUDGE_METRICS:
            record.unmeasured[metric] = "not_answered"
        return record

    async def _judge(self, record: CaseRecord, question: str, context: str, answer: str, found: bool) -> None:
        """The judge prompt on the caching client (a re-run replays the verdict too)."""
        assert self.judge is not None and self.llm is not None  # a judged suite calls the model
        if not found:
            for metric in JUDGE_METRICS:
                record.unmeasured[metric] = "not_answered"
            return
        messages = self.judge.format_messages(question=question, context=context, answer=answer)
        try:
            verdict = await self.llm.astructured(
                messages, JudgeVerdict, self.judge.model_params.model_dump(exclude_none=True)
            )
        except InsightError as exc:  # any judge failure: the judge metrics are unmeasured, not zero
            for metric in JUDGE_METRICS:
                record.unmeasured[metric] = f"judge_failed:{exc.code}"
            return
        record.scores["judge_faithfulness"] = _judge_score(verdict.faithfulness)
        record.scores["judge_relevance"] = _judge_score(verdict.relevance)
