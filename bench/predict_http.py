"""HTTP prediction throughput and latency: our service vs MLServer 1.7.1, same model, same run.

What it measures: requests/s, rows/s and latency percentiles (p50, p99) of
``POST /api/v1/predict`` (one row per request) and ``POST /api/v1/predict/batch``
(``--batch-rows`` rows per request, default 100) on ``insight serve``, and of the
equivalent V2 inference requests (``predict_proba`` output, so both servers do
the same work) on MLServer serving the same ``model.joblib``. Each server runs as
a single process on loopback; the bodies are real rows of scikit-learn's
breast-cancer data.

How: the load comes from ``wrk`` in a separate process (16 connections, one
thread, a discarded warm-up and then ``--duration`` seconds), driven by a Lua
script written to a temp dir that cycles through the request bodies and prints
its statistics as JSON from ``done()``. When ``taskset`` exists and this process
may use at least two cores, wrk is pinned to one core and the server under test
to another so they do not compete for CPU (``--no-pin`` turns that off). Before
any load, one single-row and one batch response of each server is checked, and
both servers must predict the same classes for the same rows.

MLServer lives in its own venv (``.bench/mlserver-venv``, git-ignored), created
on first use with ``mlserver==1.7.1 mlserver-sklearn==1.7.1 "uvloop<0.22"`` and
the project's scikit-learn version (``--setup-mlserver`` only does that). It runs
with ``parallel_workers=0`` (one process, like ours), no access log, metrics and
gzip off, gRPC on a free port.

Run from the repository root after ``insight train`` (needs ``wrk``: on Debian,
``apt-get install -y wrk``)::

    .venv/bin/python bench/predict_http.py                       # 20 s per scenario
    .venv/bin/python bench/predict_http.py --duration 4 --warmup 1   # smoke run

Targets: our req/s >= MLServer's in both scenarios, and our p99 <= 15 ms. The
last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer

from insight.errors import InsightError
from insight.predictor.artifact import MODEL_FILE, read_metadata

REPO = Path(__file__).resolve().parents[1]
MLSERVER_VENV = REPO / ".bench" / "mlserver-venv"
MLSERVER_PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22")
MLSERVER_MODEL = "breast-cancer"
TARGET_P99_MS = 15.0
SCENARIOS = ("single", "batch")

# wrk's Lua: cycle through pre-formatted requests (one JSON body per line of the
# file named by the first script argument); report the run as one JSON line.
WRK_LUA = r"""
local requests = {}
local next_index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #requests == 0 then
    error("no request bodies in " .. args[1])
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, requests_stats)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %.1f, "p90": %.1f, "p99": %.1f, "max": %.1f, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class Target:
    """One server under test: how to reach it and how to phrase requests for it."""

    name: str
    base_url: str
    paths: dict[str, str]

    def url(self, scenario: str) -> str:
        return self.base_url + self.paths[scenario]


@dataclass(frozen=True)
class Pinning:
    wrk: list[str]
    server: list[str]
    note: str


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="HTTP predict benchmark: insight vs MLServer 1.7.1")
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/predictor"))
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="discarded seconds before each scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--batch-rows", type=int, default=100, help="rows per batch request")
    parser.add_argument(
        "--servers",
        choices=("both", "insight", "mlserver"),
        default="both",
        help="which servers to load (ratios and targets need both)",
    )
    parser.add_argument("--mlserver-venv", type=Path, default=MLSERVER_VENV)
    parser.add_argument("--setup-mlserver", action="store_true", help="create the MLServer venv if missing, then exit")
    parser.add_argument("--no-pin", action="store_true", help="do not pin wrk and the server to cores")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- MLServer venv


def ensure_mlserver_venv(venv: Path) -> dict[str, str]:
    """Create the MLServer venv on first use; return the versions it holds."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mlserver").exists():
        pins = [*MLSERVER_PINS, f"scikit-learn=={sklearn.__version__}"]
        log(f"creating the MLServer venv {venv} (first use)")
        venv.parent.mkdir(parents=True, exist_ok=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", *pins],
        ]
        for cmd in steps:
            log("  $ " + " ".join(cmd))
            if subprocess.run(cmd, check=False).returncode != 0:
                raise SystemExit(f"setting up {venv} failed; remove it and retry, or install by hand")
    probe = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in "
        "('mlserver', 'mlserver-sklearn', 'scikit-learn', 'numpy', 'uvloop')}))"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{venv} is broken ({out.stderr.strip()}); remove it and rerun")
    versions: dict[str, str] = json.loads(out.stdout)
    if versions["scikit-learn"] != sklearn.__version__:
        log(
            f"warning: MLServer's venv has scikit-learn {versions['scikit-learn']}, the project "
            f"{sklearn.__version__}; the pickled pipeline may not load identically"
        )
    return versions


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def choose_pinning(disabled: bool) -> Pinning:
    taskset = shutil.which("taskset")
    cores = sorted(os.sched_getaffinity(0))
    if disabled:
        return Pinning([], [], "not pinned (--no-pin)")
    if taskset is None or len(cores) < 2:
        return Pinning([], [], "not pinned (needs taskset and two usable cores)")
    wrk_core, server_core = cores[0], cores[1]
    return Pinning(
        [taskset, "-c", str(wrk_core)],
        [taskset, "-c", str(server_core)],
        f"wrk on core {wrk_core}, server on core {server_core}",
    )


@contextmanager
def running(name: str, cmd: list[str], env: dict[str, str], cwd: Path, ready_url: str) -> Iterator[None]:
    """Start ``cmd``, wait until ``ready_url`` answers 200, and stop it on exit."""
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready after 120 s:\n{tail(log_path)}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        log(f"{name} ready ({ready_url})")
        yield
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_insight(stack: ExitStack, model_dir: Path, work: Path, pin: Pinning) -> Target:
    port = free_port()
    exe = Path(sys.executable).with_name("insight")
    base_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "insight.cli"]
    env = {
        **os.environ,
        "INSIGHT_PREDICTOR__MODEL_DIR": str(model_dir),
        "INSIGHT_API__ACCESS_LOG": "false",
        "INSIGHT_LOG_LEVEL": "WARNING",
        # The predict path is measured here, like MLServer's (no auth): API keys are off for the run, and the
        # per-client rate limit, which applies even without keys (1200/minute by default; wrk sends thousands a
        # second), is raised. bench/load.py measures the keyed path.
        "INSIGHT_AUTH__ENABLED": "false",
        "INSIGHT_AUTH__RATE_LIMIT": "1000000/minute",
        # /ready checks the tracking store: give it a writable place of its own.
        "INSIGHT_TRACKING__URI": f"sqlite:///{work / 'mlflow' / 'mlflow.db'}",
        "INSIGHT_TRACKING__ARTIFACT_LOCATION": str(work / "mlflow" / "artifacts"),
    }
    cmd = [*pin.server, *base_cmd, "serve", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    stack.enter_context(running("insight", cmd, env, work, base + "/ready"))
    return Target("insight", base, {"single": "/api/v1/predict", "batch": "/api/v1/predict/batch"})


def start_mlserver(stack: ExitStack, venv: Path, model_dir: Path, work: Path, pin: Pinning) -> Target:
    folder = work / "mlserver-models"
    folder.mkdir()
    shutil.copy2(model_dir / MODEL_FILE, folder / "model.joblib")
    model_settings = {
        "name": MLSERVER_MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "parallel_workers": 0,
        "metrics_endpoint": None,  # no metrics server, no Prometheus middleware
        "gzip_enabled": False,
        "debug": False,  # no access log
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    env = {**os.environ, "MLSERVER_PARALLEL_WORKERS": "0"}
    cmd = [*pin.server, str(venv / "bin" / "mlserver"), "start", str(folder)]
    base = f"http://127.0.0.1:{port}"
    stack.enter_context(running("mlserver", cmd, env, work, f"{base}/v2/models/{MLSERVER_MODEL}/ready"))
    infer = f"/v2/models/{MLSERVER_MODEL}/infer"
    return Target("mlserver", base, {"single": infer, "batch": infer})


# --------------------------------------------------------------------------- bodies


def dataset_rows(feature_names: list[str]) -> np.ndarray:
    bunch = load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    missing = sorted(set(feature_names) - set(names))
    if missing:
        raise SystemExit(f"the model expects features the dataset lacks: {missing}")
    return np.asarray(bunch.data, dtype=np.float64)[:, [names.index(n) for n in feature_names]]


def insight_body(rows: np.ndarray, scenario: str) -> bytes:
    values = rows.tolist()
    payload = {"features": values[0]} if scenario == "single" else {"instances": values}
    return json.dumps(payload, separators=(",", ":")).encode()


def mlserver_body(rows: np.ndarray) -> bytes:
    payload = {
        "inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}],
        "outputs": [{"name": "predict_proba"}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def request_sets(data: np.ndarray, batch_rows: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Row blocks per scenario: every dataset row alone, and 64 random batches."""
    rng = np.random.default_rng(seed)
    single = [data[i : i + 1] for i in rng.permutation(len(data))]
    batch = [data[rng.choice(len(data), size=batch_rows, replace=False)] for _ in range(64)]
    return {"single": single, "batch": batch}


def body_for(server: str, rows: np.ndarray, scenario: str) -> bytes:
    return insight_body(rows, scenario) if server == "insight" else mlserver_body(rows)


# --------------------------------------------------------------------------- checks


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"POST {url} → HTTP {exc.code}: {exc.read()[:500]!r}") from exc


def predicted_classes(target: Target, rows: np.ndarray, scenario: str) -> np.ndarray:
    """Classes the server predicts for ``rows``, after checking its answer is sane."""
    reply = post(target.url(scenario), body_for(target.name, rows, scenario))
    n = len(rows)
    if target.name == "insight":
        preds = [reply] if scenario == "single" else reply["predictions"]
        if len(preds) != n or not all(0.5 <= p["confidence"] <= 1.0 for p in preds):
            raise SystemExit(f"insight returned an unexpected answer: {str(reply)[:300]}")
        return np.asarray([p["prediction"] for p in preds])
    (output,) = reply["outputs"]
    proba = np.asarray(output["data"], dtype=np.float64).reshape(output["shape"])
    if output["name"] != "predict_proba" or proba.shape != (n, 2) or not np.allclose(proba.sum(1), 1):
        raise SystemExit(f"MLServer returned an unexpected answer: {str(reply)[:300]}")
    classes: np.ndarray = proba.argmax(axis=1)
    return classes


def check_agreement(targets: list[Target], sets: dict[str, list[np.ndarray]]) -> None:
    for scenario in SCENARIOS:
        blocks = sets[scenario][:20] if scenario == "single" else sets[scenario][:2]
        for rows in blocks:
            answers = {t.name: predicted_classes(t, rows, scenario) for t in targets}
            first, *others = answers.values()
            if any(not np.array_equal(first, other) for other in others):
                raise SystemExit(f"the servers disagree on {scenario} rows: {answers}")
    names = " and ".join(t.name for t in targets)
    agree = "agree on" if len(targets) > 1 else "answer sensibly for"
    log(f"{names} {agree} 20 single rows and 2 batches")


# --------------------------------------------------------------------------- load


def run_wrk(
    target: Target,
    scenario: str,
    bodies: Path,
    lua: Path,
    seconds: int,
    args: argparse.Namespace,
    pin: Pinning,
) -> dict[str, Any]:
    cmd = [
        *pin.wrk,
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(lua),
        target.url(scenario),
        "--",
        str(bodies),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            stats: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            return stats
    raise SystemExit(f"wrk gave no statistics (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")


def summarise(stats: dict[str, Any], rows_per_request: int) -> dict[str, Any]:
    seconds = stats["duration_us"] / 1e6
    rps = stats["requests"] / seconds
    errors = stats["errors"]
    return {
        "requests": stats["requests"],
        "req_s": round(rps, 1),
        "rows_s": round(rps * rows_per_request, 1),
        "p50_ms": round(stats["latency_us"]["p50"] / 1000, 3),
        "p99_ms": round(stats["latency_us"]["p99"] / 1000, 3),
        "max_ms": round(stats["latency_us"]["max"] / 1000, 3),
        "non_2xx": errors["status"],  # wrk counts the responses with a status of 400 or more
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup_mlserver:
        versions = ensure_mlserver_venv(args.mlserver_venv)
        print(json.dumps(versions))
        return 0
    if shutil.which("wrk") is None:
        log("wrk is not installed: on Debian/Ubuntu run `sudo apt-get install -y wrk` (then rerun)")
        return 2
    model_dir = args.model_dir.resolve()
    try:
        metadata = read_metadata(model_dir)
    except InsightError as exc:
        log(f"{exc.message} (or pass --model-dir)")
        return 2
    if not (model_dir / MODEL_FILE).is_file():
        log(f"{model_dir / MODEL_FILE} is missing: run `insight train` first")
        return 2

    servers = ["insight", "mlserver"] if args.servers == "both" else [args.servers]
    versions = ensure_mlserver_venv(args.mlserver_venv) if "mlserver" in servers else {}
    pin = choose_pinning(args.no_pin)
    sets = request_sets(dataset_rows(metadata.feature_names), args.batch_rows, args.seed)
    rows_per_request = {"single": 1, "batch": args.batch_rows}

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="predict-http-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        lua = work / "predict.lua"
        lua.write_text(WRK_LUA)
        starters = {
            "insight": lambda: start_insight(stack, model_dir, work, pin),
            "mlserver": lambda: start_mlserver(stack, args.mlserver_venv, model_dir, work, pin),
        }
        targets = [starters[name]() for name in servers]
        check_agreement(targets, sets)
        for target in targets:
            results[target.name] = {}
            for scenario in SCENARIOS:
                bodies = work / f"{target.name}-{scenario}.jsonl"
                bodies.write_bytes(b"\n".join(body_for(target.name, rows, scenario) for rows in sets[scenario]) + b"\n")
                if args.warmup > 0:
                    run_wrk(target, scenario, bodies, lua, args.warmup, args, pin)
                log(f"{target.name} {scenario}: {args.duration} s with {args.connections} connections")
                stats = run_wrk(target, scenario, bodies, lua, args.duration, args, pin)
                results[target.name][scenario] = summarise(stats, rows_per_request[scenario])

    print(
        f"\n{args.duration} s per scenario after {args.warmup} s warm-up, wrk -t{args.threads} "
        f"-c{args.connections}, batch = {args.batch_rows} rows; {pin.note}"
    )
    header = f"{'server':<10}{'scenario':<9}{'req/s':>9}{'rows/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'non-2xx':>9}{'sock err':>10}")
    for name, by_scenario in results.items():
        for scenario, r in by_scenario.items():
            print(
                f"{name:<10}{scenario:<9}{r['req_s']:>9,.0f}{r['rows_s']:>11,.0f}{r['p50_ms']:>9.2f}"
                f"{r['p99_ms']:>9.2f}{r['non_2xx']:>9}{r['socket_errors']:>10}"
            )

    final: dict[str, Any] = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "batch_rows": args.batch_rows,
        "pinning": pin.note,
        "versions": {"insight_scikit_learn": sklearn.__version__, **versions},
        "results": results,
    }
    ours = results.get("insight")
    if ours is not None:
        p99_met = all(ours[s]["p99_ms"] <= TARGET_P99_MS for s in SCENARIOS)
        clean = all(ours[s]["non_2xx"] == 0 and ours[s]["socket_errors"] == 0 for s in SCENARIOS)
        targets_met: dict[str, Any] = {"p99_le_15ms": p99_met, "no_errors": clean}
        theirs = results.get("mlserver")
        if theirs is not None:
            ratios = {f"{s}_req_s": round(ours[s]["req_s"] / theirs[s]["req_s"], 3) for s in SCENARIOS}
            final["ratio_ours_over_mlserver"] = ratios
            targets_met |= {f"{s}_req_s_ge_mlserver": ratios[f"{s}_req_s"] >= 1.0 for s in SCENARIOS}
            targets_met["all"] = all(targets_met.values())
            print(f"ours / MLServer req/s: single {ratios['single_req_s']:.2f}x, batch {ratios['batch_req_s']:.2f}x")
        print(
            f"targets: >= MLServer req/s in both scenarios and p99 <= {TARGET_P99_MS:.0f} ms -> "
            + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in targets_met.items())
        )
        final["targets_met"] = targets_met
    print(json.dumps(final), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
