"""MLflow for evaluation runs: one run per (suite, prompt version), prompts in MLflow's prompt registry,
an alias moved only by a passing run, and the side-by-side comparison of versions.

Each run holds params (prompt name/version/hash, model, dataset hash, suite hash), every metric with
its interval bounds and counts, each target and its pass/fail as tags (the criterion is stored, not only
the score), and the per-case table as an artifact.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from insight.config import Settings
from insight.errors import DataChanged, TrackingUnavailable
from insight.evaluation.runner import RunResult
from insight.prompts import Prompt, PromptRegistry
from insight.tracking import configure_tracking

RUN_KIND_TAG = "insight.run_kind"


def metric_key(name: str) -> str:
    """An MLflow-safe metric name: ``ndcg@10`` → ``ndcg_at_10``."""
    return re.sub(r"[^\w\-. /]", "_", name.replace("@", "_at_"))


@contextmanager
def _tracking_errors(uri: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise TrackingUnavailable(f"MLflow tracking at {uri} failed: {exc.message}") from exc
    except OSError as exc:
        raise TrackingUnavailable(f"MLflow tracking at {uri} is unreachable: {exc}") from exc


def _mlflow_template(prompt: Prompt) -> list[dict[str, str]]:
    """The prompt's messages in MLflow's ``{{variable}}`` syntax (ours is f-string ``{variable}``)."""
    messages = []
    for message in prompt.template.messages:
        inner = getattr(message, "prompt", None)
        text = getattr(inner, "template", None)
        if not isinstance(text, str):
            continue
        converted = "".join(
            literal + (f"{{{{{field}}}}}" if field is not None else "")
            for literal, field, _spec, _conversion in string.Formatter().parse(text)
        )
        role = "system" if type(message).__name__.startswith("System") else "user"
        messages.append({"role": role, "content": converted})
    return messages


def register_prompt(prompt: Prompt) -> int:
    """The MLflow prompt-registry version holding this exact file (registered once, found by its sha256)."""
    from mlflow import genai

    version = 1
    while True:
        found = genai.load_prompt(prompt.name, version=version, allow_missing=True, link_to_model=False)
        if found is None:
            break
        if found.tags.get("insight_sha256") == prompt.sha256:
            return version
        version += 1
    registered = genai.register_prompt(
        name=prompt.name,
        template=_mlflow_template(prompt),
        commit_message=f"{prompt.name} v{prompt.version}: {prompt.description[:200]}",
        tags={"insight_version": str(prompt.version), "insight_sha256": prompt.sha256},
    )
    return int(registered.version)


def alias_version(name: str, alias: str) -> int | None:
    """The prompt-registry version an alias points at, or None."""
    from mlflow import genai

    try:
        found = genai.load_prompt(f"prompts:/{name}@{alias}", link_to_model=False)
    except Exception:  # MLflow raises when the alias or prompt does not exist
        return None
    return int(found.version)


def recorded_dataset(experiment_id: str, suite: str) -> tuple[str, str] | None:
    """(dataset_sha256, run id) of the suite's latest tracked run, or None before its first."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.suite = '{suite}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    if not runs:
        return None
    digest = runs[0].data.params.get("dataset_sha256")
    return (digest, runs[0].info.run_id) if digest else None


def log_results(
    results: list[RunResult],
    settings: Settings,
    prompts: PromptRegistry,
    *,
    alias: str | None = None,
    allow_data_change: bool = False,
) -> None:
    """One MLflow run per result; ``alias`` is moved to a prompt version whose run passed every target.

    A result whose dataset hash differs from the one the suite's latest tracked run records is refused
    (``DataChanged``: nothing is logged, no alias moves) unless ``allow_data_change``, which the run records
    (tag ``insight.data_change_allowed``, param ``previous_dataset_sha256``).
    """
    import mlflow

    uri = settings.tracking.uri
    experiment_id = configure_tracking(settings.tracking, settings.evaluation.experiment)
    with _tracking_errors(uri):
        previous: dict[str, str] = {}
        for result in results:
            recorded = recorded_dataset(experiment_id, result.suite)
            if recorded is not None and recorded[0] != result.dataset_sha256:
                previous[result.suite] = recorded[0]
                if not allow_data_change:
                    raise DataChanged(
                        f"refusing to record or promote {result.label}: its dataset {result.dataset} has sha256 "
                        f"{result.dataset_sha256[:12]}…, but the suite's latest tracked run ({recorded[1]}) "
                        f"was on {recorded[0][:12]}…, so the two would not be comparable. Restore the data, or "
                        "record the change on purpose with --allow-data-change."
                    )
        for result in results:
            tags = {
                RUN_KIND_TAG: "evaluation",
                "suite": result.suite,
                "kind": result.kind,
                "gate": "pass" if result.passed else "fail",
            }
            if result.suite in previous:
                tags["insight.data_change_allowed"] = "true"
                result.params["previous_dataset_sha256"] = previous[result.suite]
            for check in result.targets:
                name = metric_key(check.target.metric)
                tags[f"target.{name}"] = check.target.describe()
                tags[f"pass.{name}"] = str(check.passed).lower()
            registry_version = None
            prompt = None
            if result.prompt is not None:
                prompt = prompts.get(str(result.prompt["prompt_name"]), int(result.prompt["prompt_version"]))
                registry_version = register_prompt(prompt)
                tags |= {
                    "prompt_name": prompt.name,
                    "prompt_version": str(prompt.version),
                    "mlflow.prompt_uri": f"prompts:/{prompt.name}/{registry_version}",
                }
            with mlflow.start_run(run_name=result.label, tags=tags) as run:
                mlflow.log_params(result.params)
                metrics: dict[str, float] = {
                    "cache_hits": float(result.cache_hits),
                    "cache_misses": float(result.cache_misses),
                    "seconds": result.seconds,
                }
                for summary in result.metrics.values():
                    name = metric_key(summary.name)
                    metrics[f"{name}.measured"] = float(summary.measured)
                    metrics[f"{name}.unmeasured"] = float(summary.unmeasured)
                    if summary.value is not None and summary.low is not None and summary.high is not None:
                        metrics |= {name: summary.value, f"{name}.ci_low": summary.low, f"{name}.ci_high": summary.high}
                mlflow.log_metrics(metrics)
                mlflow.log_text("\n".join(json.dumps(c.as_row(), default=str) for c in result.cases), "cases.jsonl")
                mlflow.log_dict(result_summary(result), "summary.json")
                result.mlflow_run_id = run.info.run_id
            if alias and prompt is not None and registry_version is not None and result.passed:
                from mlflow import genai

                genai.set_prompt_alias(prompt.name, alias, registry_version)
                result.promoted = f"{prompt.name}@{alias} → v{prompt.version} (registry v{registry_version})"


def result_summary(result: RunResult) -> dict[str, Any]:
    """A JSON-ready summary (what the API returns and the ``summary.json`` artifact holds)."""
    return {
        "suite": result.suite,
        "kind": result.kind,
        "label": result.label,
        "prompt": result.prompt,
        "model": result.model,
        "dataset": result.dataset,
        "dataset_sha256": result.dataset_sha256,
        "suite_sha256": result.suite_sha256,
        "passed": result.passed,
        "metrics": [
            {
                "metric": s.name,
                "value": s.value,
                "ci_low": s.low,
                "ci_high": s.high,
                "measured": s.measured,
                "unmeasured": s.unmeasured,
                "unmeasured_reasons": s.reasons,
            }
            for s in result.metrics.values()
        ],
        "targets": [
            {
                "metric": t.target.metric,
                "op": t.target.op,
                "value": t.target.value,
                "gate_on": t.target.gate_on,
                "compared": t.compared,
                "passed": t.passed,
                "why": t.why,
            }
            for t in result.targets
        ],
        "cases": len(result.cases),
        "cache_hits": result.cache_hits,
        "cache_misses": result.cache_misses,
        "seconds": result.seconds,
        "mlflow_run_id": result.mlflow_run_id,
        "promoted": result.promoted,
    }


@dataclass(frozen=True)
class ComparedRun:
    label: str
    run_id: str
    gate: str
    metrics: dict[str, tuple[float, float | None, float | None]]  # name → (value, low, high)
    targets: dict[str, str]
    passes: dict[str, str]


def compare(suite: str | list[str], metrics: list[str], settings: Settings) -> tuple[list[ComparedRun], str | None]:
    """The latest run of each prompt version of ``suite`` (or of each of several suites, e.g. the answer modes
    of one dataset), and the id of a run holding their comparison plot."""
    import mlflow

    suites = [suite] if isinstance(suite, str) else suite
    title = " vs ".join(suites)
    uri = settings.tracking.uri
    experiment_id = configure_tracking(settings.tracking, settings.evaluation.experiment)
    with _tracking_errors(uri):
        latest: dict[str, Any] = {}
        for name in suites:  # the suites in the order given, each one's versions sorted
            runs = mlflow.search_runs(
                experiment_ids=[experiment_id],
                filter_string=f"tags.suite = '{name}' and tags.`{RUN_KIND_TAG}` = 'evaluation'",
                order_by=["attributes.start_time DESC"],
                output_format="list",
            )
            own: dict[str, Any] = {}
            for run in runs:
                own.setdefault(str(run.info.run_name), run)
            latest |= {label: own[label] for label in sorted(own)}
        compared = []
        for label in latest:
            run = latest[label]
            values = {}
            for metric in metrics:
                key = metric_key(metric)
                if key in run.data.metrics:
                    values[metric] = (
                        run.data.metrics[key],
                        run.data.metrics.get(f"{key}.ci_low"),
                        run.data.metrics.get(f"{key}.ci_high"),
                    )
            compared.append(
                ComparedRun(
                    label=label,
                    run_id=run.info.run_id,
                    gate=run.data.tags.get("gate", "?"),
                    metrics=values,
                    targets={m: run.data.tags.get(f"target.{metric_key(m)}", "") for m in metrics},
                    passes={m: run.data.tags.get(f"pass.{metric_key(m)}", "") for m in metrics},
                )
            )
        if not compared:
            return [], None
        figure = comparison_figure(title, metrics, compared)
        with mlflow.start_run(run_name=f"compare {title}", tags={RUN_KIND_TAG: "comparison", "suite": title}) as run:
            mlflow.log_figure(figure, "comparison.png")
            mlflow.log_dict(
                {c.label: {"run_id": c.run_id, "gate": c.gate, "metrics": c.metrics} for c in compared},
                "comparison.json",
            )
        import matplotlib.pyplot as plt

        plt.close(figure)
        return compared, run.info.run_id


def comparison_figure(suite: str, metrics: list[str], runs: list[ComparedRun]) -> Any:
    """One panel per metric: each version's value with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in metrics if any(m in r.metrics for r in runs)]
    figure, axes = plt.subplots(1, max(1, len(shown)), figsize=(3.2 * max(1, len(shown)), 3.4), squeeze=False)
    for axis, metric in zip(axes[0], shown, strict=False):
        labels, values, below, above = [], [], [], []
        for run in runs:
            if metric not in run.metrics:
                continue
            value, low, high = run.metrics[metric]
            labels.append(run.label.rsplit(" ", 1)[-1])
            values.append(value)
            below.append(value - low if low is not None else 0.0)
            above.append(high - value if high is not None else 0.0)
        axis.bar(labels, values, yerr=[below, above], capsize=4, color="#4C72B0")
        axis.set_title(metric)
    figure.suptitle(f"{suite}: versions side by side (95 % bootstrap intervals)")
    figure.tight_layout()
    return figure
