"""The service's own overhead on ``/api/v1/analyze`` when the model is remote and answers in a fixed 100 ms.

Three processes on loopback:

- a mock OpenAI-compatible server (this file, ``--mock``): ``POST /v1/chat/completions`` answers after
  ``--delay-ms`` (100) with a forced tool call whose arguments fit the schema the request's first tool
  describes (``AnalysisResult``: summary, key points, confidence, recommendations), as the analysis chain
  asks for with ``openai_compatible`` (``function_calling``);
- the real service, ``insight serve``, with ``INSIGHT_LLM__PROVIDER=openai_compatible`` and
  ``INSIGHT_LLM__BASE_URL`` pointing at the mock (every other setting as the environment gives it);
- this process: ``--clients`` (16) concurrent clients posting a small CSV to ``/api/v1/analyze`` for
  ``--duration`` seconds (30), each client one keep-alive connection, one request at a time. By default
  each client posts its own table again and again (as an analyst asking several questions of one table:
  the service's profile cache answers the repeats); ``--distinct`` makes every request's table new
  (different figures), so that every request is parsed and profiled.

Ideal throughput is clients / delay (16 / 0.1 s = 160 req/s); the ratio to it is the figure to watch
(target >= 0.8). The last line printed is one JSON object.

    .venv/bin/python bench/llm_overhead.py                       # 16 clients, 30 s
    .venv/bin/python bench/llm_overhead.py --duration 5 --clients 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
# Twelve months: enough rows for the insight engine to find (and the model to narrate) a correlation and a
# trend; with fewer there is no finding and the service answers with its template, never calling the model.
CSV = (
    "month,revenue,units,region\n"
    "2025-01-01,200.5,31,EMEA\n2025-02-01,208.1,33,APAC\n2025-03-01,215.9,35,EMEA\n"
    "2025-04-01,224.0,36,APAC\n2025-05-01,231.7,38,EMEA\n2025-06-01,240.2,41,APAC\n"
    "2025-07-01,247.8,42,EMEA\n2025-08-01,256.3,44,APAC\n2025-09-01,263.1,45,EMEA\n"
    "2025-10-01,270.9,47,APAC\n2025-11-01,279.4,49,EMEA\n2025-12-01,288.0,52,APAC\n"
)


# --- the mock OpenAI-compatible server ------------------------------------------------------------------


def _arguments_for(tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments that fit the tool's JSON schema (a NarrationPlan that refers to the first finding, or a
    minimal generic fill)."""
    function = tool.get("function") or {}
    if function.get("name") == "NarrationPlan":
        return {
            "lead": [1],
            "summary": "The leading finding holds ({1.n} rows).",
            "key_points": [{"insight": 1, "wording": "The first finding, over {1.n} rows."}],
            "recommendations": ["Keep tracking the monthly trend."],
        }
    properties = function.get("parameters", {}).get("properties", {})
    known: dict[str, Any] = {
        "summary": "Revenue rose every month, from 200.5 to 256.3.",
        "key_points": ["Revenue rose from 200.5 to 256.3.", "Units rose from 31 to 44."],
        "confidence": 0.9,
        "recommendations": ["Keep tracking the monthly trend."],
    }
    filled: dict[str, Any] = {}
    for name, spec in properties.items():
        if name in known:
            filled[name] = known[name]
        elif spec.get("type") == "array":
            filled[name] = []
        elif spec.get("type") in ("number", "integer"):
            filled[name] = 0
        else:
            filled[name] = "n/a"
    return filled


def completion(request: dict[str, Any]) -> dict[str, Any]:
    """A chat completion: a call of the first tool when the request offers tools, else a short text."""
    message: dict[str, Any] = {"role": "assistant", "content": "ok"}
    finish = "stop"
    tools = request.get("tools") or []
    if tools:
        tool = tools[0]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_mock",
                    "type": "function",
                    "function": {"name": tool["function"]["name"], "arguments": json.dumps(_arguments_for(tool))},
                }
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "mock"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
    }


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """HTTP/1.1 with keep-alive, just enough for the OpenAI SDK (Content-Length bodies, no chunking)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, path, _version = request_line.split(" ", 2)
            if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                await asyncio.sleep(delay_s)
                status, payload = "200 OK", completion(json.loads(body))
            else:
                status, payload = "404 Not Found", {"error": {"message": f"no route {method} {path}"}}
            data = json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def run_mock(port: int, delay_s: float) -> None:
    server = await asyncio.start_server(lambda r, w: _serve_connection(r, w, delay_s), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the driver -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout_s:g} s")


def table(client: int, request: int | None) -> str:
    """The bench's CSV with the units of its last row made unique to (client, request)."""
    tag = client * 1_000_000 + (request or 0)
    return CSV.replace("288.0,52,APAC", f"288.0,{52 + tag},APAC")


async def load(
    base: str, clients: int, duration_s: float, distinct: bool = False
) -> tuple[list[float], int, dict[str, int], float]:
    """Closed-loop load: each client posts, waits for the answer, posts again, until the time is up."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration_s
    run = int(time.time() * 1000) % 1_000_000  # a new table per run too when --distinct

    async def client(number: int) -> None:
        sent = 0
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            while time.perf_counter() < deadline:
                sent += 1
                csv = table(number, run * 10_000 + sent if distinct else None)
                body = {"csv": csv, "question": "How did revenue move?"}
                started = time.perf_counter()
                try:
                    response = await http.post("/api/v1/analyze", json=body)
                    ok = response.status_code == 200 and "result" in response.json()
                    key = "ok" if ok else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                if key == "ok":
                    latencies.append(time.perf_counter() - started)
                else:
                    errors[key] = errors.get(key, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(clients)))
    elapsed = time.perf_counter() - started
    return latencies, sum(errors.values()), errors, elapsed


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="the mock's fixed answer time")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--distinct", action="store_true", help="a new table in every request (no profile reuse)")
    parser.add_argument("--mock", type=int, metavar="PORT", help=argparse.SUPPRESS)  # run as the mock server
    args = parser.parse_args()
    if args.mock:
        asyncio.run(run_mock(args.mock, args.delay_ms / 1000.0))
        return 0

    mock_port, api_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="insight-bench-") as tmp:
        env = {
            **os.environ,
            "INSIGHT_LLM__PROVIDER": "openai_compatible",
            "INSIGHT_LLM__BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
            "INSIGHT_LLM__MODEL": "mock",
            "INSIGHT_API__ACCESS_LOG": "false",
            "INSIGHT_LOG_LEVEL": "WARNING",
            # API keys and their per-key rate limit are another part's concern, measured on their own.
            "INSIGHT_AUTH__ENABLED": "false",
            "INSIGHT_AUTH__RATE_LIMIT": "1000000/minute",
            "INSIGHT_VECTORSTORE__PATH": str(Path(tmp) / "vectorstore"),
        }
        mock = subprocess.Popen(
            [sys.executable, __file__, "--mock", str(mock_port), "--delay-ms", str(args.delay_ms)], cwd=ROOT
        )
        insight = str(Path(sys.executable).with_name("insight"))
        service = subprocess.Popen([insight, "serve", "--port", str(api_port)], cwd=ROOT, env=env)
        try:
            wait_until_up(f"http://127.0.0.1:{mock_port}/", mock, 10.0)
            base = f"http://127.0.0.1:{api_port}"
            wait_until_up(f"{base}/health", service, 60.0)
            probe = httpx.post(f"{base}/api/v1/analyze", json={"csv": CSV}, timeout=30).json()["meta"]
            if probe["narrator"] != "model":  # else the bench would time the template, not the model's path
                raise SystemExit(f"the service did not narrate with the mock: {probe['narrator_reason']}")
            if args.warmup > 0:
                asyncio.run(load(base, args.clients, args.warmup, args.distinct))
            processes = {
                "service": psutil.Process(service.pid),
                "mock": psutil.Process(mock.pid),
                "clients": psutil.Process(),
            }
            cpu_before = {name: sum(process.cpu_times()[:2]) for name, process in processes.items()}
            latencies, n_errors, errors, elapsed = asyncio.run(load(base, args.clients, args.duration, args.distinct))
            cpu_s = {name: sum(process.cpu_times()[:2]) - cpu_before[name] for name, process in processes.items()}
        finally:
            for process in (service, mock):
                process.terminate()
            for process in (service, mock):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)

    ideal = args.clients / (args.delay_ms / 1000.0)
    throughput = len(latencies) / elapsed
    result = {
        "clients": args.clients,
        "distinct_tables": args.distinct,
        "duration_s": round(elapsed, 1),
        "delay_ms": args.delay_ms,
        "requests_ok": len(latencies),
        "errors": n_errors,
        "error_kinds": errors,
        "throughput_rps": round(throughput, 1),
        "ideal_rps": round(ideal, 1),
        "ratio_to_ideal": round(throughput / ideal, 3),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        # CPU the service process spent per answered request (all its threads): on a machine shared with
        # other work this is steadier than throughput; 1000 / it is the most one core could serve.
        "service_cpu_ms_per_request": round(cpu_s["service"] * 1000 / len(latencies), 2) if latencies else None,
        # The harness's own share of the same cores: with 2 CPUs, what the mock and the clients use is
        # not available to the service.
        "mock_cpu_ms_per_request": round(cpu_s["mock"] * 1000 / len(latencies), 2) if latencies else None,
        "clients_cpu_ms_per_request": round(cpu_s["clients"] * 1000 / len(latencies), 2) if latencies else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    print(
        f"{result['requests_ok']} ok, {n_errors} errors in {result['duration_s']} s: "
        f"{result['throughput_rps']} req/s of an ideal {result['ideal_rps']} (ratio {result['ratio_to_ideal']}); "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; service CPU "
        f"{result['service_cpu_ms_per_request']} ms/request (mock {result['mock_cpu_ms_per_request']}, clients "
        f"{result['clients_cpu_ms_per_request']}); load average {result['load_average_1m']} "
        f"on {result['cpu_count']} CPUs"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
