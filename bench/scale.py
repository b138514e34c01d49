"""Ray engine vs the local engine on one machine: SciFact ingestion and predict-batch on 1 M rows.

Ingestion: the first ``--docs`` SciFact abstracts into a Chroma server (``chroma run`` started here in a temp
dir), once by the local path (one embedder, ``--local-threads`` threads) and once on Ray (``--actors`` actors
of ``--threads-per-actor`` thread each, 0.5 CPU reserved per actor). Ray is started before the timed runs and
its start-up reported apart (``ray_init_s``); the Ray timing includes starting the actors and loading their
models. Then: identical chunk ids and metadata, the largest difference between the two collections' vectors,
identical top-10 hybrid search results for ``--queries`` SciFact test queries, a re-ingest on Ray that must
embed nothing, and a job during which one Ray worker is killed (SIGKILL) that must still end with every chunk
stored once.

predict-batch: ``--rows`` rows drawn around scikit-learn's breast-cancer data (a real row, each feature
jittered by 5 %, fixed seed) in Parquet (row groups of ``--row-group-rows``), scored by the served model
(``var/models/predictor``; read, score and write all timed, each figure the median of ``--repeat`` runs):
locally; on Ray started for the job (as ``--engine ray`` without ``--address``: ``ray.init`` reported apart),
once per design; and on a running cluster (``ray start --head`` started here once, as an operator would, then
joined with ``--address``): design 1 (a Ray Data actor pool per job), design 2's first job (it starts the
resident scorers) and its later jobs. Every output must equal the local one.

Run from the repository root::

    .venv/bin/python bench/scale.py [--docs 2000] [--rows 1000000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from insight.bulk.engine import ray_runtime
from insight.bulk.ingest import ingest_on_ray
from insight.bulk.predict import predict_file
from insight.config import EmbeddingSettings, RaySettings, Settings, VectorStoreSettings
from insight.predictor.data import load_dataset
from insight.rag.factory import build_rag_service
from insight.rag.ingest import IngestReport, SourceDocument
from insight.rag.loaders import LoadedDocument
from insight.rag.store import ChromaStore, build_chroma_client

SCIFACT = Path("/work/shared/benchdata/scifact")
TARGET_INGEST_RATIO = 0.9
TARGET_PREDICT_RATIO = 0.8
TARGET_ROWS_PER_MIN = 1_000_000
MAX_VECTOR_DIFF = 1e-5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--row-group-rows", type=int, default=100_000, help="predict-batch input's row groups")
    parser.add_argument("--repeat", type=int, default=3, help="predict-batch: runs per figure (median reported)")
    parser.add_argument("--cluster-cpus", type=int, default=os.cpu_count() or 1, help="the bench's `ray start`")
    parser.add_argument("--local-threads", type=int, default=2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--threads-per-actor", type=int, default=1)
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/predictor"))
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-predict", action="store_true")
    return parser.parse_args()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def scifact_documents(data: Path, n: int) -> list[SourceDocument]:
    docs = []
    for record in read_jsonl(data / "corpus.jsonl.gz"):
        title, text = record.get("title") or "", record.get("text") or ""
        if not (text or title).strip():
            continue
        doc_id = str(record["_id"])
        docs.append(
            SourceDocument(doc_id, LoadedDocument(source=doc_id, title=title, text=text or title, kind="jsonl"))
        )
        if len(docs) == n:
            break
    return docs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(folder: Path) -> tuple[subprocess.Popen[bytes], VectorStoreSettings]:
    port = free_port()
    chroma = str(Path(sys.executable).parent / "chroma")
    process = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(folder / "db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = VectorStoreSettings(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 60
    while True:
        try:
            build_chroma_client(settings).heartbeat()
            return process, settings
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.2)


def ray_worker_pids(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (Ray titles an actor's process after its class)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "ray::" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def ingest_part(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    docs = scifact_documents(args.data, args.docs)
    chroma, server = start_chroma(folder)
    ray_settings = RaySettings(actors=args.actors, threads_per_actor=args.threads_per_actor, num_cpus=os.cpu_count())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        vectorstore=server,
        embeddings=EmbeddingSettings(threads=args.local_threads),
        ray=ray_settings,
    )
    result: dict[str, Any] = {"docs": len(docs)}
    try:
        rag = build_rag_service(settings)
        started = time.perf_counter()
        local = rag.ingest("scale-local", docs)
        local_s = time.perf_counter() - started

        started = time.perf_counter()
        with ray_runtime(ray_settings):
            result["ray_init_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            on_ray, info = ingest_on_ray(settings, "scale-ray", docs)
            ray_s = time.perf_counter() - started
            again, _ = ingest_on_ray(settings, "scale-ray", docs)
            killed = killed_worker_run(settings, docs, local.chunks_embedded)
        store = ChromaStore(build_chroma_client(server), embedding_model=info.embedding_model)
        a = store.read_all("scale-local", with_vectors=True)
        b = store.read_all("scale-ray", with_vectors=True)
        order_a, order_b = np.argsort(a.ids), np.argsort(b.ids)
        ids_equal = [a.ids[i] for i in order_a] == [b.ids[i] for i in order_b]
        meta_equal = [a.metadatas[i] for i in order_a] == [b.metadatas[i] for i in order_b]
        assert a.vectors is not None and b.vectors is not None
        max_diff = float(np.abs(a.vectors[order_a] - b.vectors[order_b]).max()) if ids_equal else None
        queries = [q["text"] for q in read_jsonl(args.data / "queries.jsonl")][: args.queries]
        same_hits = sum(
            [h.doc_id for h in rag.search("scale-local", q, top_k=10)]
            == [h.doc_id for h in rag.search("scale-ray", q, top_k=10)]
            for q in queries
        )
        result.update(
            {
                "chunks": local.chunks_embedded,
                "local_threads": args.local_threads,
                "local_s": round(local_s, 2),
                "local_docs_per_s": round(len(docs) / local_s, 1),
                "ray_actors": args.actors,
                "ray_threads_per_actor": args.threads_per_actor,
                "ray_s": round(ray_s, 2),
                "ray_docs_per_s": round(len(docs) / ray_s, 1),
                "ray_embed_s_summed_over_actors": round(on_ray.embed_seconds, 2),
                "ray_vs_local": round(local_s / ray_s, 3),
                "ray_vs_local_target": TARGET_INGEST_RATIO,
                "ray_chunks": on_ray.chunks_embedded,
                "chunk_ids_identical": ids_equal,
                "metadata_identical": meta_equal,
                "max_abs_vector_diff": max_diff,
                "search_top10_identical": f"{same_hits}/{len(queries)}",
                "reingest_chunks_embedded": again.chunks_embedded,
                "reingest_unchanged": len(again.unchanged),
                "worker_killed": killed,
            }
        )
        result["met"] = bool(
            result["ray_vs_local"] >= TARGET_INGEST_RATIO
            and ids_equal
            and meta_equal
            and max_diff is not None
            and max_diff <= MAX_VECTOR_DIFF
            and same_hits == len(queries)
            and again.chunks_embedded == 0
            and killed["complete"]
        )
    finally:
        chroma.send_signal(signal.SIGKILL)
        chroma.wait()
    return result


def killed_worker_run(settings: Settings, docs: list[SourceDocument], expected_chunks: int) -> dict[str, Any]:
    """Ingest on Ray while one worker is SIGKILLed once a fifth of the chunks are stored."""
    name = "scale-killed"
    store = ChromaStore(build_chroma_client(settings.vectorstore), embedding_model="")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"], outcome["info"] = ingest_on_ray(settings, name, docs)
        except Exception as exc:  # reported in the JSON, not raised from the thread
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    job = threading.Thread(target=run)
    job.start()
    killed_pid = None
    while job.is_alive() and killed_pid is None:
        time.sleep(0.5)
        try:
            stored = store.count(name)
        except Exception:
            continue
        if stored >= expected_chunks // 5:
            pids = ray_worker_pids("ChunkWriter")
            if pids:
                killed_pid = pids[0]
                os.kill(killed_pid, signal.SIGKILL)
    job.join()
    final = store.read_all(name, with_vectors=False)
    report: IngestReport | None = outcome.get("report")
    return {
        "killed_pid": killed_pid,
        "error": outcome.get("error"),
        "chunks_stored": len(final.ids),
        "duplicates": len(final.ids) - len(set(final.ids)),
        "documents_stored": len({m["doc_id"] for m in final.metadatas}),
        "documents_counted": outcome["info"].documents if "info" in outcome else None,
        "complete": bool(
            killed_pid is not None
            and report is not None
            and len(final.ids) == len(set(final.ids)) == expected_chunks
            and len({m["doc_id"] for m in final.metadatas}) == len(docs)
        ),
    }


def generated_rows(n: int, seed: int = 0) -> pa.Table:
    data = load_dataset()
    rng = np.random.default_rng(seed)
    picks = data.features[rng.integers(0, len(data.features), n)]
    features = picks * rng.normal(1.0, 0.05, size=picks.shape)
    columns: dict[str, Any] = {"row_id": np.arange(n)}
    columns.update({name: features[:, j] for j, name in enumerate(data.feature_names)})
    return pa.table(columns)


def predict_settings(args: argparse.Namespace, scorers: str, address: str | None = None) -> Settings:
    ray_settings = RaySettings(
        actors=args.actors,
        num_cpus=None if address else os.cpu_count(),
        address=address,
        predict_scorers=scorers,  # type: ignore[arg-type]
    )
    settings = Settings(_env_file=None, ray=ray_settings)  # type: ignore[call-arg]
    return settings.model_copy(
        update={"predictor": settings.predictor.model_copy(update={"model_dir": args.model_dir})}
    )


def timed_jobs(settings: Settings, source: Path, target: Path, engine: str, repeat: int) -> list[float]:
    return [predict_file(settings, source, target, engine).seconds for _ in range(repeat)]  # type: ignore[arg-type]


def summary(seconds: list[float], rows: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "s": [round(x, 3) for x in seconds],
        "median_s": round(median, 3),
        "rows_per_min": round(rows * 60 / median),
    }


def cold_run(args: argparse.Namespace, scorers: str, source: Path, target: Path) -> dict[str, Any]:
    """As ``--engine ray`` without ``--address``: a local Ray started for the job, then shut down."""
    settings = predict_settings(args, scorers)
    started = time.perf_counter()
    with ray_runtime(settings.ray, data=scorers == "per_job"):
        init_s = time.perf_counter() - started
        job_s = predict_file(settings, source, target, "ray").seconds
    return {"ray_init_s": round(init_s, 2), "job_s": round(job_s, 3), "init_plus_job_s": round(init_s + job_s, 3)}


@contextmanager
def ray_head(cpus: int) -> Iterator[str]:
    """``ray start --head --block`` in a temp dir (what an operator runs once); stopped by its own pid."""
    folder = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    port = free_port()
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}"]
    command += [f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"]
    log = folder / "ray-start.log"
    with log.open("wb") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start --head did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=120)  # it drains for up to 30 s first
        for pid in pids_mentioning(str(folder)):  # anything of this head's left behind
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def pids_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def predict_part(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    source = folder / "rows.parquet"
    pq.write_table(generated_rows(args.rows), source, row_group_size=args.row_group_rows)
    repeat = args.repeat
    result: dict[str, Any] = {
        "rows": args.rows,
        "row_group_rows": args.row_group_rows,
        "local_target_rows_per_min": TARGET_ROWS_PER_MIN,
        "ray_vs_local_target": TARGET_PREDICT_RATIO,
        "repeat": repeat,
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    local_settings = predict_settings(args, "resident")
    local = timed_jobs(local_settings, source, folder / "local.parquet", "local", repeat)
    expected = pq.read_table(folder / "local.parquet")
    result["local"] = summary(local, args.rows)

    def same(path: Path) -> bool:
        return bool(pq.read_table(path).equals(expected))

    cold: dict[str, Any] = {}
    for scorers in ("per_job", "resident"):
        cold[scorers] = cold_run(args, scorers, source, folder / f"cold-{scorers}.parquet")
        cold[scorers]["outputs_identical"] = same(folder / f"cold-{scorers}.parquet")
    result["cold_local_ray"] = cold

    with ray_head(args.cluster_cpus) as address:
        os.environ["RAY_AUTH_MODE"] = "token"  # `ray start` turns token authentication on (Ray 2.60)
        started = time.perf_counter()
        with ray_runtime(RaySettings(address=address), data=False):
            cluster: dict[str, Any] = {"ray_init_s": round(time.perf_counter() - started, 2)}
            per_job = timed_jobs(
                predict_settings(args, "per_job", address), source, folder / "d1.parquet", "ray", repeat
            )
            cluster["per_job"] = {**summary(per_job, args.rows), "outputs_identical": same(folder / "d1.parquet")}
            settings = predict_settings(args, "resident", address)
            first = predict_file(settings, source, folder / "d2-first.parquet", "ray").seconds
            warm = timed_jobs(settings, source, folder / "d2.parquet", "ray", repeat)
            cluster["resident_first_job_s"] = round(first, 3)
            cluster["resident"] = {
                **summary(warm, args.rows),
                "outputs_identical": same(folder / "d2.parquet") and same(folder / "d2-first.parquet"),
            }
        del os.environ["RAY_AUTH_MODE"]
    result["running_cluster"] = cluster
    local_median = result["local"]["median_s"]
    result["ratios"] = {
        "per_job_cold": round(local_median / cold["per_job"]["job_s"], 3),
        "resident_cold": round(local_median / cold["resident"]["job_s"], 3),
        "per_job_running_cluster": round(local_median / cluster["per_job"]["median_s"], 3),
        "resident_running_cluster_first_job": round(local_median / first, 3),
        "resident_running_cluster": round(local_median / cluster["resident"]["median_s"], 3),
    }
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    identical = all(v["outputs_identical"] for v in cold.values()) and all(
        cluster[k]["outputs_identical"] for k in ("per_job", "resident")
    )
    result["outputs_identical"] = identical
    result["met"] = bool(
        result["local"]["rows_per_min"] >= TARGET_ROWS_PER_MIN
        and result["ratios"]["resident_running_cluster"] >= TARGET_PREDICT_RATIO
        and identical
    )
    return result


def main() -> None:
    args = parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    result: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs, shared", "load_avg": list(os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="insight-scale-") as tmp:
        if not args.skip_predict:
            result["predict_batch"] = predict_part(args, Path(tmp))
            print(json.dumps(result["predict_batch"]), file=sys.stderr)
        if not args.skip_ingest:
            result["ingest"] = ingest_part(args, Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
