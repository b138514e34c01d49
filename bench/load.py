"""Steady-rate load on ``/api/v1/predict/batch``, ``/api/v1/search`` and ``/api/v1/analyze``, with the server's memory.

Three processes on loopback:

- the mock OpenAI-compatible model server of ``bench/llm_overhead.py`` (``--mock``): answers every chat
  completion after ``--llm-delay-ms`` with a tool call that fits the analysis schema;
- the real service, ``insight serve``, as deployed: auth on, JSON logs with access lines (to a file),
  metrics on; ``INSIGHT_LLM__PROVIDER=openai_compatible`` pointing at the mock; the served predictor
  (``var/models/predictor``, trained first with ``insight train --if-missing`` when absent); a Chroma
  store in a temp dir holding ``eval/corpus`` (ingested with ``insight ingest`` before the server starts);
  an admin key made with ``insight keys create`` in a temp key store (its rate limit raised for the run);
- this process: an open-loop load. Each endpoint gets ``--rate`` requests/s at fixed intervals whatever
  the answers' latency (a slow answer does not slow the load down, so latency is not hidden); at most
  ``--max-in-flight`` requests per endpoint are outstanding, and one that would exceed that is counted as
  an error (``overload``). Batches are ``--batch-rows`` real rows of the breast-cancer data; queries cycle
  through ``eval/datasets/sample_retrieval.jsonl``; every analysis posts a new table (distinct figures),
  so the service's profile cache fills and must stay bounded.

``--warmup`` seconds of the same load come first (the lexical index, the model and the caches are built
then); RSS "before" is read after it. The server's RSS is sampled through the run; the figures to watch
are ``errors`` (target 0) and the RSS growth and slope (target: flat). At the end the server's own
``/metrics`` counts are read back and compared with what this process saw.

    .venv/bin/python bench/load.py --duration 60 --rate 5           # a short check
    .venv/bin/python bench/load.py --duration 600 --rate 5          # the 10-minute run
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --api-key KEY --collection samples --server-pid PID

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer

ROOT = Path(__file__).resolve().parents[1]
MOCK = ROOT / "bench" / "llm_overhead.py"
QUERIES = ROOT / "eval" / "datasets" / "sample_retrieval.jsonl"
CORPUS = ROOT / "eval" / "corpus"
MB = 1024 * 1024


# --- request bodies ---------------------------------------------------------------------------------------------
def batches(rows: int) -> Iterator[dict[str, Any]]:
    data = load_breast_cancer().data.astype(float)
    offset = 0
    while True:
        index = (np.arange(rows) + offset) % len(data)
        yield {"instances": data[index].round(6).tolist()}
        offset += rows


def queries(collection: str) -> Iterator[dict[str, Any]]:
    texts = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines() if line.strip()]
    n = 0
    while True:
        yield {"collection": collection, "query": texts[n % len(texts)], "top_k": 10, "mode": "hybrid"}
        n += 1


def tables() -> Iterator[dict[str, Any]]:
    """A new table each time: eight months of revenue and units, the last figures unique to the request."""
    n = 0
    while True:
        rows = [f"2025-{m:02d}-01,{200 + 7.5 * m:.1f},{30 + m},{'EMEA' if m % 2 else 'APAC'}" for m in range(1, 8)]
        rows.append(f"2025-08-01,{260 + n / 100:.2f},{44 + n},APAC")
        yield {"csv": "month,revenue,units,region\n" + "\n".join(rows) + "\n", "question": "How did revenue move?"}
        n += 1


def valid_prediction(body: Any, request: dict[str, Any]) -> bool:
    return isinstance(body, dict) and len(body.get("predictions", [])) == len(request["instances"])


def valid_search(body: Any, _request: dict[str, Any]) -> bool:
    return isinstance(body, dict) and isinstance(body.get("hits"), list) and len(body["hits"]) > 0


def valid_analysis(body: Any, _request: dict[str, Any]) -> bool:
    return isinstance(body, dict) and isinstance(body.get("result"), dict)


@dataclass
class Endpoint:
    path: str
    bodies: Iterator[dict[str, Any]]
    valid: Callable[[Any, dict[str, Any]], bool]
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    max_lag_s: float = 0.0

    def reset(self) -> None:
        self.latencies, self.errors, self.sent, self.max_lag_s = [], {}, 0, 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


# --- the load ---------------------------------------------------------------------------------------------------
async def drive(
    base: str, headers: dict[str, str], endpoint: Endpoint, rate: float, seconds: float, max_in_flight: int
) -> None:
    """Send ``rate`` requests/s to the endpoint for ``seconds``, on schedule, and wait for the stragglers."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    in_flight: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60.0, limits=limits) as http:

        async def one(body: dict[str, Any]) -> None:
            started = time.perf_counter()
            try:
                response = await http.post(endpoint.path, json=body)
            except httpx.HTTPError as exc:
                endpoint.error(type(exc).__name__)
                return
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                endpoint.error(f"HTTP {response.status_code}")
            elif not endpoint.valid(response.json(), body):
                endpoint.error("invalid body")
            else:
                endpoint.latencies.append(elapsed)

        start = loop.time()
        n = 0
        while (due := start + n * interval) < start + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            endpoint.max_lag_s = max(endpoint.max_lag_s, loop.time() - due)
            endpoint.sent += 1
            body = next(endpoint.bodies)
            if len(in_flight) >= max_in_flight:
                endpoint.error("overload")
            else:
                task = asyncio.create_task(one(body))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            n += 1
        if in_flight:
            await asyncio.gather(*in_flight)


async def sample_rss(pid: int | None, every_s: float, samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    if pid is None:
        return
    process = psutil.Process(pid)
    started = time.perf_counter()
    while not stop.is_set():
        samples.append((time.perf_counter() - started, process.memory_info().rss / MB))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def run_load(
    base: str,
    headers: dict[str, str],
    endpoints: list[Endpoint],
    rate: float,
    seconds: float,
    max_in_flight: int,
    pid: int | None,
    sample_every_s: float,
) -> tuple[float, list[tuple[float, float]]]:
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, sample_every_s, samples, stop))
    started = time.perf_counter()
    await asyncio.gather(*(drive(base, headers, e, rate, seconds, max_in_flight) for e in endpoints))
    elapsed = time.perf_counter() - started
    stop.set()
    await sampler
    return elapsed, samples


# --- the server -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise SystemExit(f"{url}: the process exited with {process.returncode}\n{tail}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=1.0)
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout_s:g} s")


def insight(*args: str, env: dict[str, str]) -> str:
    """Run an ``insight`` command; its stdout, or exit with its output when it fails."""
    command = [str(Path(sys.executable).with_name("insight")), *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"`insight {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def server_env(tmp: Path, mock_port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("INSIGHT_")},
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "INSIGHT_LOG_FORMAT": "json",
        "INSIGHT_LLM__PROVIDER": "openai_compatible",
        "INSIGHT_LLM__BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
        "INSIGHT_LLM__MODEL": "mock",
        "INSIGHT_VECTORSTORE__PATH": str(tmp / "vectorstore"),
        "INSIGHT_AUTH__ENABLED": "true",
        "INSIGHT_AUTH__KEYS_PATH": str(tmp / "auth" / "keys.db"),
        "INSIGHT_TRACKING__URI": f"sqlite:///{tmp}/mlflow/mlflow.db",
        "INSIGHT_TRACKING__ARTIFACT_LOCATION": str(tmp / "mlflow" / "artifacts"),
        "INSIGHT_EVALUATION__CACHE_DIR": str(tmp / "eval-cache"),
        "INSIGHT_PREDICTOR__MODEL_DIR": str(ROOT / "var" / "models" / "predictor"),
    }


def server_counts(base: str, headers: dict[str, str]) -> dict[str, dict[str, float]]:
    """The server's own request counts for the three routes, by status, from ``/metrics``."""
    text = httpx.get(f"{base}/metrics", headers=headers, timeout=10.0).text
    counts: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "insight_http_requests_total" and sample.labels["method"] == "POST":
                route = counts.setdefault(sample.labels["route"], {})
                route[sample.labels["status"]] = sample.value
    return counts


# --- figures ----------------------------------------------------------------------------------------------------
def percentile_ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def endpoint_figures(endpoint: Endpoint, elapsed: float) -> dict[str, Any]:
    return {
        "sent": endpoint.sent,
        "ok": len(endpoint.latencies),
        "errors": sum(endpoint.errors.values()),
        "error_kinds": endpoint.errors,
        "ok_rps": round(len(endpoint.latencies) / elapsed, 2),
        "p50_ms": percentile_ms(endpoint.latencies, 50),
        "p99_ms": percentile_ms(endpoint.latencies, 99),
        "max_ms": percentile_ms(endpoint.latencies, 100),
        "max_schedule_lag_ms": round(endpoint.max_lag_s * 1000, 1),
    }


def memory_figures(samples: list[tuple[float, float]]) -> dict[str, Any]:
    if not samples:
        return {}
    seconds = np.array([s for s, _ in samples])
    rss = np.array([r for _, r in samples])
    slope = float(np.polyfit(seconds, rss, 1)[0]) * 60 if len(samples) >= 3 else None
    return {
        "rss_before_mb": round(float(rss[0]), 1),
        "rss_after_mb": round(float(rss[-1]), 1),
        "rss_max_mb": round(float(rss.max()), 1),
        "rss_growth_mb": round(float(rss[-1] - rss[0]), 1),
        "rss_slope_mb_per_min": round(slope, 2) if slope is not None else None,
        "rss_samples_mb": [round(float(r), 1) for r in rss],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    parser.add_argument("--rate", type=float, default=5.0, help="requests/s to each endpoint")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of the same load before measuring")
    parser.add_argument("--batch-rows", type=int, default=100, help="rows per /predict/batch request")
    parser.add_argument("--llm-delay-ms", type=float, default=100.0, help="the mock model's answer time")
    parser.add_argument("--max-in-flight", type=int, default=32, help="outstanding requests per endpoint")
    parser.add_argument("--samples", type=int, default=30, help="RSS samples over the measured run")
    parser.add_argument("--url", help="load this running server instead of starting one (needs --api-key)")
    parser.add_argument("--api-key", help="the key for --url (a key with predict, analyze and read scopes)")
    parser.add_argument("--collection", default="load", help="the collection searched (with --url: must exist)")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's pid, for its RSS")
    args = parser.parse_args()
    if args.url and not args.api_key:
        parser.error("--url needs --api-key")

    endpoints = [
        Endpoint("/api/v1/predict/batch", batches(args.batch_rows), valid_prediction),
        Endpoint("/api/v1/search", queries(args.collection), valid_search),
        Endpoint("/api/v1/analyze", tables(), valid_analysis),
    ]
    sample_every_s = max(0.5, args.duration / max(1, args.samples))

    with contextlib.ExitStack() as stack:
        if args.url:
            base, key, pid = args.url.rstrip("/"), args.api_key, args.server_pid
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="insight-load-")))
            mock_port, api_port = free_port(), free_port()
            env = server_env(tmp, mock_port)
            insight("train", "--if-missing", env=env)
            insight("ingest", str(CORPUS), "--collection", args.collection, env=env)
            key = (
                insight(
                    "keys",
                    "create",
                    "--name",
                    "load-bench",
                    "--scope",
                    "admin",
                    "--rate-limit",
                    "1000000/minute",
                    env=env,
                )
                .strip()
                .splitlines()[-1]
            )
            mock = subprocess.Popen(
                [sys.executable, str(MOCK), "--mock", str(mock_port), "--delay-ms", str(args.llm_delay_ms)], cwd=ROOT
            )
            log_path = tmp / "server.log"
            log = stack.enter_context(log_path.open("wb"))
            service = subprocess.Popen(
                [str(Path(sys.executable).with_name("insight")), "serve", "--port", str(api_port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(stop_processes, service, mock)
            wait_until_up(f"http://127.0.0.1:{mock_port}/", mock, 10.0)
            base, pid = f"http://127.0.0.1:{api_port}", service.pid
            wait_until_up(f"{base}/health", service, 120.0, log_path)
        headers = {"Authorization": f"Bearer {key}"}

        if args.warmup > 0:
            asyncio.run(run_load(base, headers, endpoints, args.rate, args.warmup, args.max_in_flight, None, 1.0))
            warmup_errors = {e.path: dict(e.errors) for e in endpoints if e.errors}
            for endpoint in endpoints:
                endpoint.reset()
        else:
            warmup_errors = {}
        counted_before = server_counts(base, headers)
        load_average_before = os.getloadavg()[0]
        elapsed, samples = asyncio.run(
            run_load(base, headers, endpoints, args.rate, args.duration, args.max_in_flight, pid, sample_every_s)
        )
        counted_after = server_counts(base, headers)
        if pid is not None:
            samples.append((elapsed, psutil.Process(pid).memory_info().rss / MB))

    per_endpoint = {e.path: endpoint_figures(e, elapsed) for e in endpoints}
    server_counted = {
        e.path: {
            status: counted_after.get(e.path, {}).get(status, 0.0) - counted_before.get(e.path, {}).get(status, 0.0)
            for status in counted_after.get(e.path, {})
        }
        for e in endpoints
    }
    result = {
        "duration_s": round(elapsed, 1),
        "rate_per_endpoint": args.rate,
        "batch_rows": args.batch_rows,
        "llm_delay_ms": args.llm_delay_ms,
        "errors": sum(figures["errors"] for figures in per_endpoint.values()),
        "endpoints": per_endpoint,
        "server_counted": server_counted,
        "warmup_errors": warmup_errors,
        **memory_figures(samples),
        "load_average_1m": [round(load_average_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }
    for path, figures in per_endpoint.items():
        print(
            f"{path:24} {figures['ok']:6d} ok {figures['errors']:4d} errors  {figures['ok_rps']:6.2f} req/s  "
            f"p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms  max lag {figures['max_schedule_lag_ms']} ms"
        )
    if samples:
        print(
            f"server RSS {result['rss_before_mb']} MB before, {result['rss_after_mb']} MB after "
            f"(max {result['rss_max_mb']} MB, slope {result['rss_slope_mb_per_min']} MB/min) over {elapsed:.0f} s"
        )
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


def stop_processes(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    raise SystemExit(main())
