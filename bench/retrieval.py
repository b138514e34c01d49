"""Retrieval benchmark on any BEIR-layout folder (corpus.jsonl[.gz], queries*.jsonl, qrels*.tsv).

Ingests the corpus through the service's real ingestion path (chunking, embedding, Chroma upsert,
content hashes), then for every query of the chosen split runs lexical, dense and hybrid search with
the service's search settings (``--set`` overrides them; with ``aggregation=chunk`` chunk hits become
documents by their best chunk) and scores the top 100 documents with ranx: nDCG@10 and Recall@100.
In the same run it measures:
- ingestion throughput and its ratio to the raw embedder's throughput on the same passages;
- the time to re-ingest the unchanged corpus, and how many chunks that re-embedded (should be 0);
- search latency p50/p99 through the HTTP API on loopback (a uvicorn process of its own).

    .venv/bin/python bench/retrieval.py --data ../shared/benchdata/scifact            # test split
    .venv/bin/python bench/retrieval.py --data ../shared/benchdata/scifact --split train
    .venv/bin/python bench/retrieval.py --data … --store /tmp/scifact-store --quality-only --set bm25_k1=1.2
    .venv/bin/python bench/retrieval.py --data … --store /tmp/scifact-store --latency-only
    .venv/bin/python bench/retrieval.py --data … --store … --latency-only --set feedback_docs=3   # feedback on

Tune on train, report on test. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from ranx import Qrels, Run, evaluate

from insight.config import EmbeddingSettings, SearchSettings, Settings, VectorStoreSettings
from insight.rag.chunking import chunk_document
from insight.rag.factory import build_embedder, build_rag_service
from insight.rag.ingest import SourceDocument, embedding_text
from insight.rag.loaders import LoadedDocument
from insight.rag.service import RagService

MODES = ("lexical", "dense", "hybrid")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def find(folder: Path, *names: str) -> Path:
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"{folder} has none of {', '.join(names)}")


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            parts = line.strip().split("\t")
            if len(parts) < 3 or (i == 0 and not parts[-1].lstrip("-").isdigit()):
                continue  # header
            query_id, doc_id, score = parts[0], parts[1], int(parts[-1])
            if score > 0:
                qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def corpus_documents(data: Path) -> list[SourceDocument]:
    docs = []
    for record in read_jsonl(find(data, "corpus.jsonl.gz", "corpus.jsonl")):
        text = record.get("text") or ""
        title = record.get("title") or ""
        if not (text or title).strip():
            continue
        doc_id = str(record["_id"])
        docs.append(
            SourceDocument(
                doc_id=doc_id,
                document=LoadedDocument(source=doc_id, title=title, text=text or title, kind="jsonl"),
            )
        )
    return docs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def served_api(store: Path, env: dict[str, str], *, timeout_s: float, start_s: float) -> Iterator[httpx.Client]:
    """``insight serve`` in a process of its own on ``store`` (no model, no keys, one embedding thread: the
    service's default, one request, one core), ``env`` on top; a client once ``/health`` answers."""
    port = free_port()
    server_env = {
        **os.environ,
        "INSIGHT_VECTORSTORE__PATH": str(store),
        "INSIGHT_API__ACCESS_LOG": "false",
        "INSIGHT_LOG_LEVEL": "WARNING",
        "INSIGHT_PREDICTOR__MODEL_DIR": str(store / "no-model"),
        "INSIGHT_EMBEDDINGS__THREADS": "1",
        "INSIGHT_AUTH__ENABLED": "false",  # the route itself is measured here; bench/load.py covers the keyed path
        "INSIGHT_AUTH__RATE_LIMIT": "1000000/minute",  # applies per client even without keys (default 1200/minute)
        **env,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "insight.cli", "serve", "--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s) as client:
            deadline = time.monotonic() + start_s
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the API server did not start")
                time.sleep(0.2)
            yield client
    finally:
        server.terminate()
        server.wait(timeout=10)


def http_latency(
    settings: Settings, collection: str, queries: list[str], top_k: int, overrides: list[str] | None = None
) -> dict[str, float]:
    """p50/p99 of POST /api/v1/search from this process to a separate uvicorn process.

    The server runs the service's default search settings, with ``overrides`` (``--set key=value``) applied.
    """
    # search settings: the service's defaults (100 candidates per ranking), not the deep quality runs
    search_env = {
        f"INSIGHT_SEARCH__{key.upper()}": value for key, _, value in (o.partition("=") for o in overrides or [])
    }
    with served_api(settings.vectorstore.path, search_env, timeout_s=30, start_s=60) as client:
        body = {"collection": collection, "top_k": top_k, "mode": "hybrid"}
        for query in queries[:20]:  # warm-up: lexical index build, caches
            client.post("/api/v1/search", json={**body, "query": query}).raise_for_status()
        latencies = []
        in_server = []  # the route's own took_ms: search without HTTP, JSON or queueing
        for query in queries:
            started = time.perf_counter()
            response = client.post("/api/v1/search", json={**body, "query": query}).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            in_server.append(float(response.json()["took_ms"]))
        health = []  # the HTTP stack alone (middleware, server, client) on the same connection
        for _ in range(100):
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            health.append((time.perf_counter() - started) * 1000)
    # The floor under all of it: embedding one query, one thread, in this process on the same queries,
    # with the service's query model and, for comparison, with the documents' model.
    embedding: dict[str, list[float]] = {"int8": [], "document": []}
    for query_model in embedding:
        embedder, _ = build_embedder(settings.embeddings.model_copy(update={"threads": 1, "query_model": query_model}))
        for query in queries:
            started = time.perf_counter()
            embedder.embed_query(query)
            embedding[query_model].append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "in_route_p50_ms": round(statistics.median(in_server), 2),
        "health_p50_ms": round(statistics.median(health), 2),
        "query_embedding_p50_ms": round(statistics.median(embedding["int8"]), 2),
        "query_embedding_document_model_p50_ms": round(statistics.median(embedding["document"]), 2),
        "requests": len(latencies),
    }


def document_run(rag: RagService, collection: str, queries: dict[str, str], mode: str, depth: int) -> Run:
    """Hits → documents (with chunk aggregation a document scores as its best chunk)."""
    run: dict[str, dict[str, float]] = {}
    for query_id, text in queries.items():
        scores: dict[str, float] = {}
        for hit in rag.search(collection, text, top_k=depth, mode=mode):  # type: ignore[arg-type]
            scores.setdefault(hit.doc_id, hit.score)
        run[query_id] = scores or {"__none__": 0.0}
    return Run(run, name=mode)


def search_settings(overrides: list[str], depth: int) -> SearchSettings:
    """The service's search defaults with ``key=value`` overrides; chunk aggregation looks ``depth`` deep."""
    fields: dict[str, Any] = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in SearchSettings.model_fields:
            raise SystemExit(f"--set {item}: SearchSettings has no field {key!r}")
        fields[key] = value
    settings = SearchSettings.model_validate(fields)
    if settings.aggregation == "chunk":  # chunk hits are many per document: look deeper to fill 100 documents
        settings = settings.model_copy(update={"candidates": max(depth, settings.candidates)})
    return settings.model_copy(update={"max_top_k": max(depth, settings.max_top_k)})


def quality(
    rag: RagService, collection: str, queries: dict[str, str], qrels: dict[str, dict[str, int]], depth: int
) -> dict[str, dict[str, float]]:
    hits_per_query = depth if rag.settings.aggregation == "chunk" else 100
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        started = time.perf_counter()
        run = document_run(rag, collection, queries, mode, hits_per_query)
        scores = evaluate(Qrels(qrels), run, ["ndcg@10", "recall@100"], make_comparable=True)
        out[mode] = {k: round(float(v), 4) for k, v in scores.items()}
        print(
            f"  {mode:8s} nDCG@10 {out[mode]['ndcg@10']:.4f}  Recall@100 {out[mode]['recall@100']:.4f}"
            f"  ({(time.perf_counter() - started) / max(len(queries), 1) * 1000:.1f} ms/query in process)",
            flush=True,
        )
    return out


def flat(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    return {f"{mode}_{metric}": value for mode in MODES for metric, value in scores[mode].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout folder")
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument("--store", type=Path, default=None, help="vector store folder (default: a temp dir)")
    parser.add_argument("--collection", default="beir")
    parser.add_argument("--depth", type=int, default=300, help="chunk hits fetched per query")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="embedding threads")
    parser.add_argument("--limit-queries", type=int, default=0, help="only the first N queries (smoke runs)")
    parser.add_argument("--limit-docs", type=int, default=0, help="only the first N corpus documents (throughput runs)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--quality-only", action="store_true", help="only nDCG/Recall, on a --store ingested before (no ingestion)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a search setting for the quality runs, e.g. --set fusion=rrf (repeatable)",
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="only the HTTP latency, on a --store ingested before"
    )
    parser.add_argument(
        "--raw-sample",
        type=int,
        default=0,
        help="time the raw embedder on this many of the ingested passages (evenly spaced; 0 = all of them)",
    )
    args = parser.parse_args()

    store = args.store or Path(tempfile.mkdtemp(prefix="insight-retrieval-"))
    search = search_settings(args.set, args.depth)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        vectorstore=VectorStoreSettings(path=store),
        search=search,
        embeddings=EmbeddingSettings(threads=args.threads),
    )
    rag = build_rag_service(settings)

    suffix = "" if args.split == "test" else "_train"
    queries = {str(q["_id"]): str(q["text"]) for q in read_jsonl(find(args.data, f"queries{suffix}.jsonl"))}
    qrels = load_qrels(find(args.data, f"qrels{suffix}.tsv", f"qrels/{args.split}.tsv"))
    queries = {qid: text for qid, text in queries.items() if qid in qrels}
    if args.limit_queries:
        queries = dict(list(queries.items())[: args.limit_queries])

    if args.latency_only:
        print(
            json.dumps(
                {
                    "search": args.set,
                    **{
                        f"search_http_{k}": v
                        for k, v in http_latency(
                            settings, args.collection, list(queries.values()), 10, args.set
                        ).items()
                    },
                }
            )
        )
        return

    if args.quality_only:
        scores = quality(rag, args.collection, queries, qrels, args.depth)
        print(json.dumps({"split": args.split, "queries": len(queries), "search": args.set, **flat(scores)}))
        return

    documents = corpus_documents(args.data)
    if args.limit_docs:
        documents = documents[: args.limit_docs]
    print(f"corpus: {len(documents)} documents; {len(queries)} {args.split} queries; store {store}", flush=True)

    started = time.perf_counter()
    report = rag.ingest(
        args.collection,
        documents,
        progress=lambda done, chunks: print(f"\r  ingest {done}/{len(documents)} docs, {chunks} chunks", end=""),
    )
    ingest_s = time.perf_counter() - started
    print()

    # The raw embedder on exactly the passages ingestion embedded, in this same process.
    passages = [
        embedding_text(doc.document.title, chunk.text)
        for doc in documents
        for chunk in chunk_document(doc.document, rag.ingestor.encoding, search.chunk_tokens, search.chunk_overlap)
    ]
    if args.raw_sample and args.raw_sample < len(passages):
        step = len(passages) / args.raw_sample
        passages = [passages[int(i * step)] for i in range(args.raw_sample)]
    started = time.perf_counter()
    rag.ingestor.embed(passages)
    raw_s = time.perf_counter() - started

    started = time.perf_counter()
    again = rag.ingest(args.collection, documents)
    reingest_s = time.perf_counter() - started

    scores = quality(rag, args.collection, queries, qrels, args.depth)

    latency = (
        {}
        if args.skip_http
        else http_latency(settings, args.collection, list(queries.values()), top_k=10, overrides=args.set)
    )

    result = {
        "data": str(args.data),
        "split": args.split,
        "documents": len(documents),
        "queries": len(queries),
        "chunks": report.chunks_embedded,
        "embedding_threads": args.threads,
        "embedding_batch_size": settings.embeddings.batch_size,
        "search": args.set,
        **flat(scores),
        "ingest_s": round(ingest_s, 2),
        "ingest_passages_per_s": round(report.chunks_embedded / ingest_s, 2),
        "raw_embed_passages": len(passages),
        "raw_embed_passages_per_s": round(len(passages) / raw_s, 2),
        "ingest_vs_raw_embedder": round((report.chunks_embedded / ingest_s) / (len(passages) / raw_s), 3),
        "reingest_s": round(reingest_s, 3),
        "reingest_chunks_embedded": again.chunks_embedded,
        **{f"search_http_{k}": v for k, v in latency.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
