"""The embedded model on structured analysis: cold start, schema-valid rate, grounded-number rate.

Cold start is measured from this process's start (imports included) to the first finished
analysis: assembling/verifying the GGUF, loading it, profiling a table and the model call. Then
``--runs`` analyses of varied tables (scikit-learn's bundled datasets and synthetic time series
with rising, falling and flat trends) each record whether the output was schema-valid (an
``OutputParseError`` after the one repair attempt counts as invalid), the share of figures in
the text that the computed facts support, and the latency.

    .venv/bin/python bench/local_model.py            # 20 analyses
    .venv/bin/python bench/local_model.py --runs 5   # quicker

Targets: cold start <= 10 s; 100 % schema-valid. The last line printed is one JSON object.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine  # noqa: E402

from insight.analysis import Analyzer  # noqa: E402
from insight.config import AnalysisSettings, LLMSettings  # noqa: E402
from insight.errors import OutputParseError  # noqa: E402
from insight.llm import build_llm_client  # noqa: E402
from insight.prompts import PromptRegistry, default_prompt_root  # noqa: E402


def series(kind: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    slope = {"up": 8.0, "down": -8.0, "flat": 0.0}[kind]
    revenue = 200 + slope * np.arange(12) + rng.normal(0, 3, 12)
    return pd.DataFrame(
        {"month": months.strftime("%Y-%m-%d"), "revenue": revenue.round(1), "region": rng.choice(["EMEA", "APAC"], 12)}
    )


def tables(runs: int) -> Iterator[tuple[str, pd.DataFrame, str]]:
    bundled = [
        ("iris", load_iris(as_frame=True).frame, "Which measurements separate the species?"),
        ("wine", load_wine(as_frame=True).frame.iloc[:, :6], "What stands out in these wines?"),
        ("diabetes", load_diabetes(as_frame=True).frame, "What relates to disease progression (target)?"),
        ("breast_cancer", load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, -1]], "Summarise the data."),
    ]
    kinds = ["up", "down", "flat"]
    for i in range(runs):
        if i % 2 == 0:
            name, frame, question = bundled[(i // 2) % len(bundled)]
            yield name, frame.sample(n=min(len(frame), 120), random_state=i), question
        else:
            kind = kinds[(i // 2) % len(kinds)]
            yield f"revenue-{kind}", series(kind, i), "How is revenue developing?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--model-cache", type=Path, default=Path("var/models/llm"))
    parser.add_argument("--max-tokens", type=int, default=384, help="the model's default; a prompt's own wins")
    parser.add_argument("--fact-tokens", type=int, default=None, help="fact budget (default: the local default)")
    parser.add_argument("--prompt-version", type=int, default=None, help="analysis prompt version (default: latest)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per model call (a busy machine is slow)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (the service's default is 1)")
    args = parser.parse_args()

    imported_s = time.perf_counter() - STARTED
    settings = LLMSettings(
        provider="local",
        model_cache=args.model_cache,
        max_tokens=args.max_tokens,
        timeout_s=args.timeout,
        n_threads=args.threads,
    )
    fact_tokens = AnalysisSettings(max_fact_tokens=args.fact_tokens).fact_budget("local")
    loading = time.perf_counter()
    llm = build_llm_client(settings)
    load_s = time.perf_counter() - loading
    analyzer = Analyzer(
        llm, PromptRegistry(default_prompt_root()), prompt_version=args.prompt_version, max_fact_tokens=fact_tokens
    )
    print(
        f"imports {imported_s:.1f} s, model assembled/verified and loaded {load_s:.1f} s; prompt "
        f"{analyzer.prompt.name} v{analyzer.prompt.version}, fact budget {fact_tokens} tokens",
        flush=True,
    )
    rows = []
    cold_start_s = None
    for name, frame, question in tables(args.runs):
        started = time.perf_counter()
        try:
            response = analyzer.analyze_sync(frame, question)
            valid, grounded = True, response.grounding.grounded_rate
            figures = len(response.grounding.supported) + len(response.grounding.unsupported)
            tokens = (response.meta.input_tokens, response.meta.output_tokens)
        except OutputParseError:
            valid, grounded, figures, tokens = False, None, 0, (0, 0)
        elapsed = time.perf_counter() - started
        if cold_start_s is None:
            cold_start_s = time.perf_counter() - STARTED
        rows.append({"table": name, "valid": valid, "grounded_rate": grounded, "figures": figures, "s": elapsed})
        print(
            f"{name:16s} valid={valid!s:5s} grounded={grounded} figures={figures} tokens in/out {tokens[0]}/"
            f"{tokens[1]} {elapsed:6.1f} s",
            flush=True,
        )

    valid_rate = sum(r["valid"] for r in rows) / len(rows)
    with_figures = [r["grounded_rate"] for r in rows if r["valid"] and r["figures"]]
    result = {
        "runs": len(rows),
        "cold_start_s": round(cold_start_s or 0.0, 2),
        "imports_s": round(imported_s, 2),
        "model_load_s": round(load_s, 2),
        "fact_tokens": fact_tokens,
        "prompt_version": analyzer.prompt.version,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "schema_valid_rate": round(valid_rate, 3),
        "grounded_rate_mean": round(statistics.mean(with_figures), 3) if with_figures else None,
        "analyses_with_figures": len(with_figures),
        "latency_p50_s": round(statistics.median(r["s"] for r in rows), 2),
        "targets_met": {"cold_start_le_10s": (cold_start_s or 99) <= 10, "schema_valid_100pct": valid_rate == 1.0},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
