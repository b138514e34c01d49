"""The embedded chat model's raw speed on this machine: load, prompt evaluation and generation.

llama-cpp-python directly (no LangChain, no grammar), on the GGUF assembled in ``var/models/llm``:
a ~750-token prompt evaluated with ``max_tokens=1``, then 64 greedy tokens from a short prompt.
These set the floor under ``bench/local_model.py``'s cold start: an analysis evaluates a few hundred
prompt tokens and generates a few dozen under a grammar.

    .venv/bin/python bench/llama_speed.py              # one thread (the service's default)
    .venv/bin/python bench/llama_speed.py --threads 2

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from insight.llm.local_model import assemble_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-cache", type=Path, default=Path("var/models/llm"))
    args = parser.parse_args()

    from llama_cpp import Llama

    path = assemble_model(args.model_cache)
    started = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    load_s = time.perf_counter() - started

    prompt = " ".join(["Revenue rose from 200.5 to 256.3 over eight months in EMEA and APAC."] * 30)
    prompt_tokens = len(llm.tokenize(prompt.encode()))
    started = time.perf_counter()
    llm.create_completion(prompt, max_tokens=1)
    prompt_s = time.perf_counter() - started

    llm.reset()
    started = time.perf_counter()
    out = llm.create_completion("Write a long story about data analysis:", max_tokens=64, temperature=0.0)
    generate_s = time.perf_counter() - started
    generated = int(out["usage"]["completion_tokens"])  # type: ignore[index]

    result = {
        "threads": args.threads,
        "load_s": round(load_s, 2),
        "prompt_tokens": prompt_tokens,
        "prompt_tok_per_s": round(prompt_tokens / prompt_s, 1),
        "generated_tokens": generated,
        "generate_tok_per_s": round(generated / generate_s, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"load {result['load_s']} s; prompt {prompt_tokens} tokens at {result['prompt_tok_per_s']} tok/s; "
        f"generation {generated} tokens at {result['generate_tok_per_s']} tok/s ({args.threads} thread(s))"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
