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
jittered by 5 %, fixed seed) in Parquet, scored by the served model (``var/models/predictor``) locally and on
Ray (read, score and write all timed); both outputs must be identical.

Run from the repository root::

    .venv/bin/python bench/scale.py [--docs 2000] [--rows 1000000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
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


def predict_part(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    source = folder / "rows.parquet"
    pq.write_table(generated_rows(args.rows), source)
    ray_settings = RaySettings(actors=args.actors, num_cpus=os.cpu_count())
    settings = Settings(_env_file=None, ray=ray_settings)  # type: ignore[call-arg]
    settings = settings.model_copy(
        update={"predictor": settings.predictor.model_copy(update={"model_dir": args.model_dir})}
    )
    local = predict_file(settings, source, folder / "local.parquet", "local")
    started = time.perf_counter()
    with ray_runtime(ray_settings):
        init_s = time.perf_counter() - started
        on_ray = predict_file(settings, source, folder / "ray.parquet", "ray")
    identical = pq.read_table(folder / "local.parquet").equals(pq.read_table(folder / "ray.parquet"))
    ratio = local.seconds / on_ray.seconds
    return {
        "rows": args.rows,
        "local_s": round(local.seconds, 2),
        "local_rows_per_min": round(local.rows_per_minute),
        "local_target_rows_per_min": TARGET_ROWS_PER_MIN,
        "ray_init_s": round(init_s, 2),
        "ray_s": round(on_ray.seconds, 2),
        "ray_rows_per_min": round(on_ray.rows_per_minute),
        "ray_vs_local": round(ratio, 3),
        "ray_vs_local_target": TARGET_PREDICT_RATIO,
        "outputs_identical": identical,
        "met": bool(local.rows_per_minute >= TARGET_ROWS_PER_MIN and ratio >= TARGET_PREDICT_RATIO and identical),
    }


def main() -> None:
    args = parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    result: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs, shared (not quiet)"}
    with tempfile.TemporaryDirectory(prefix="insight-scale-") as tmp:
        if not args.skip_predict:
            result["predict_batch"] = predict_part(args, Path(tmp))
            print(json.dumps(result["predict_batch"]), file=sys.stderr)
        if not args.skip_ingest:
            result["ingest"] = ingest_part(args, Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
