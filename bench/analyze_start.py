"""Cold start and first analysis: ``insight serve`` → /health ready → first ``/analyze`` answered.

Starts the service as ``make run`` does (embedded defaults; API keys off so that no key is needed, the
model's provider as configured or ``--provider``), and measures on a 1,000-row × 10-column table:
- ``ready_s``: process start → ``/health`` answers;
- ``first_narrate_false_ms``: the first ``/analyze`` with ``narrate=false`` after ready (engine + template);
- ``cold_start_s``: process start → that first complete analysis;
- ``template_p50_ms``: more ``narrate=false`` requests on fresh tables (no cache hits);
- with ``--narrate N``: N requests narrated by the configured model: p50 and the share narrated by the model
  rather than the template.
Prints one JSON line. Nothing is asserted: targets are printed with a ``met`` flag each.

    .venv/bin/python bench/analyze_start.py
    .venv/bin/python bench/analyze_start.py --narrate 5          # local model narrating
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def table(rows: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", periods=rows, freq="D")
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    units = rng.integers(5, 80, size=rows)
    price = rng.normal(20, 3, size=rows).round(2)
    frame = pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "region": region,
            "channel": rng.choice(["web", "store", "phone"], size=rows),
            "units": units,
            "price": price,
            "revenue": (units * price * (1 + np.arange(rows) / rows * 0.4)).round(2),
            "discount": rng.uniform(0, 0.3, size=rows).round(3),
            "returns": rng.poisson(2, size=rows),
            "rating": rng.normal(4, 0.5, size=rows).round(1),
            "visits": rng.integers(100, 1000, size=rows),
        }
    )
    return str(frame.to_csv(index=False))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10, help="narrate=false requests after the first")
    parser.add_argument("--narrate", type=int, default=0, help="requests narrated by the configured model")
    parser.add_argument(
        "--provider", default=None, help="INSIGHT_LLM__PROVIDER for the service (default: as configured)"
    )
    args = parser.parse_args()

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="insight-bench-analyze-"))
    env = {
        **os.environ,
        "INSIGHT_AUTH__ENABLED": "false",
        "INSIGHT_AUTH__RATE_LIMIT": "1000000/minute",
        "INSIGHT_API__ACCESS_LOG": "false",
        "INSIGHT_LOG_LEVEL": "WARNING",
        "INSIGHT_TRACKING__URI": f"sqlite:///{work / 'mlflow.db'}",
        "INSIGHT_TRACKING__ARTIFACT_LOCATION": str(work / "artifacts"),
    }
    if args.provider:
        env["INSIGHT_LLM__PROVIDER"] = args.provider
    insight = str(Path(sys.executable).with_name("insight"))
    started = time.perf_counter()
    server = subprocess.Popen(  # noqa: S603 - our own CLI
        [insight, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env
    )
    base = f"http://127.0.0.1:{port}"
    result: dict[str, object] = {"bench": "analyze_start", "rows": args.rows, "columns": 10}
    try:
        with httpx.Client(base_url=base, timeout=300) as client:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"insight serve exited with {server.returncode}")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            ready = time.perf_counter()
            result["ready_s"] = round(ready - started, 2)
            body = {"csv": table(args.rows, 0), "narrate": False}
            first = client.post("/api/v1/analyze", json=body)
            done = time.perf_counter()
            first.raise_for_status()
            result["first_narrate_false_ms"] = round((done - ready) * 1000, 1)
            result["cold_start_s"] = round(done - started, 2)
            result["first_insights"] = len(first.json()["insights"])
            times = []
            for seed in range(1, args.repeats + 1):
                t0 = time.perf_counter()
                client.post(
                    "/api/v1/analyze", json={"csv": table(args.rows, seed), "narrate": False}
                ).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            result["template_p50_ms"] = round(statistics.median(times), 1) if times else None
            if args.narrate:
                narrated, by_model = [], 0
                for seed in range(100, 100 + args.narrate):
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/analyze", json={"csv": table(args.rows, seed)})
                    response.raise_for_status()
                    narrated.append((time.perf_counter() - t0) * 1000)
                    by_model += response.json()["meta"]["narrator"] == "model"
                result["narrated_p50_ms"] = round(statistics.median(narrated), 1)
                result["model_narration_share"] = round(by_model / args.narrate, 3)
                result["narrated_requests"] = args.narrate
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["targets"] = {
        "first_narrate_false_ms": {"target": 1000, "met": float(result["first_narrate_false_ms"]) <= 1000},  # type: ignore[arg-type]
        "cold_start_s": {"target": 10, "met": float(result["cold_start_s"]) <= 10},  # type: ignore[arg-type]
    }
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
