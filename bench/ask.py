"""Answers with citations on SQuAD-layout data (corpus.jsonl, queries.jsonl, answers.jsonl, qrels.tsv).

Split rule (fixed): a question belongs to the article of its gold paragraph (``<article>_<paragraph>``);
questions of even-numbered articles are the tuning half, odd-numbered the report half. The corpus is every
paragraph of both halves (one collection), ingested through the service's real path.

    .venv/bin/python bench/ask.py --data ../shared/benchdata/squad_dev_a --tune      # fit on the tuning half
    .venv/bin/python bench/ask.py --data ../shared/benchdata/squad_dev_a             # report half, one JSON line
    .venv/bin/python bench/ask.py --data … --store /tmp/squad-store --generative 40 --http-store /tmp/scifact-store

``--tune`` fits the sentence-selection weights (logistic regression: does this sentence of a retrieved
passage hold a gold answer?), then the extractive answer's size (``max_sentences``, ``second_sentence_ratio``)
and the found threshold on pairs with and without the gold paragraph (its chunks removed from the hits),
and prints them as ``INSIGHT_ANSWER__…`` settings. The report run measures, on the report half:
- retrieval R@1/R@5 of the gold paragraph (hybrid search) and R@1 after sentence re-ranking;
- extractive: gold paragraph among the citations, gold answer contained in the answer sentence(s),
  SQuAD EM/F1 of the sentences, found precision/recall on pairs with/without the gold paragraph;
- generative on the local model (``--generative N``: N report-half questions, every ``--generative-every``-th):
  EM/F1, verified share, and the share of answers whose numbers and names are all in the cited sentences;
- ``/ask`` latency over HTTP (extractive, a uvicorn process of its own) on ``--http-store``'s collection
  (default: this store), and the generative latency from the sample above.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from insight.config import AnswerSettings, EmbeddingSettings, Settings, VectorStoreSettings  # noqa: E402
from insight.evaluation.squad import article_half, exact_match, squad_f1  # noqa: E402
from insight.rag.answer import Answer, Answerer, build_answerer, extractive_answer, relevant  # noqa: E402
from insight.rag.extractive import (  # noqa: E402
    FEATURES,
    SentenceSelector,
    candidate_sentences,
    sentence_features,
)
from insight.rag.factory import build_rag_service  # noqa: E402
from insight.rag.search import SearchHit  # noqa: E402
from insight.rag.service import RagService  # noqa: E402
from insight.rag.verify import verify  # noqa: E402
from retrieval import corpus_documents, percentile, read_jsonl, served_api  # noqa: E402


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    gold_doc: str
    answers: list[str]

    @property
    def half(self) -> str:
        return article_half(self.gold_doc)


def questions(data: Path) -> list[Question]:
    texts = {str(q["_id"]): str(q["text"]) for q in read_jsonl(data / "queries.jsonl")}
    return [
        Question(str(a["_id"]), texts[str(a["_id"])], str(a["gold_doc"]), [str(x) for x in a["answers"]])
        for a in read_jsonl(data / "answers.jsonl")
    ]


def contains_answer(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a.strip().lower() in lowered for a in answers if a.strip())


def retrieve(rag: RagService, collection: str, qs: list[Question], depth: int) -> dict[str, list[SearchHit]]:
    started = time.perf_counter()
    out = {q.id: rag.search(collection, q.text, top_k=depth, mode="hybrid") for q in qs}
    print(f"  retrieved {len(qs)} questions in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return out


def without_gold(hits: list[SearchHit], gold: str, keep: int) -> list[SearchHit]:
    """The hits as if the gold paragraph were not in the collection."""
    return [h for h in hits if h.doc_id != gold][:keep]


def answer_hits(hits: list[SearchHit], settings: AnswerSettings, min_dense: float) -> list[SearchHit]:
    return relevant(hits[: settings.passages], min_dense)


def selection_for(
    selector: SentenceSelector, rag: RagService, collection: str, question: str, hits: list[SearchHit]
) -> Any:
    snapshot = rag.searcher.snapshot(collection)
    return selector.select(question, hits, snapshot.chunk_lexical if snapshot is not None else None)


def tune(
    rag: RagService, collection: str, qs: list[Question], hits: dict[str, list[SearchHit]], base: AnswerSettings
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    snapshot = rag.searcher.snapshot(collection)
    index = snapshot.chunk_lexical if snapshot is not None else None
    min_dense = rag.settings.answer_min_dense
    vectors = SentenceSelector(base.model_copy(update={"sentence_dense": True}), rag.embedder).vectors
    assert vectors is not None
    rows, labels, groups = [], [], []
    started = time.perf_counter()
    for number, q in enumerate(qs):
        kept = answer_hits(hits[q.id], base, min_dense)
        candidates = candidate_sentences(kept, base.passages)
        if not candidates:
            continue
        embedded = vectors.vectors([q.text, *(s.text for _, s in candidates)])
        features = sentence_features(q.text, kept, candidates, index, embedded[0], embedded[1:])
        for (passage, sentence), row in zip(candidates, features, strict=True):
            rows.append(row)
            labels.append(int(kept[passage].doc_id == q.gold_doc and contains_answer(sentence.text, q.answers)))
            groups.append(number)
        if number % 500 == 0:
            print(f"  features {number}/{len(qs)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    x, y, g = np.array(rows), np.array(labels), np.array(groups)
    fitted: dict[str, Any] = {}
    every = list(range(len(FEATURES)))
    for name, columns in (("all", every), ("no_dense", [i for i in every if FEATURES[i] != "dense"])):
        direction = listwise_fit(x[:, columns], y, g)
        raw = x[:, columns] @ direction
        # calibrate: a 1-D logistic model on the listwise score gives the scale and bias of a probability
        calibration = LogisticRegression(C=100.0).fit(raw[:, None], y)
        scale, bias = float(calibration.coef_[0][0]), float(calibration.intercept_[0])
        weights = dict.fromkeys(FEATURES, 0.0)
        for i, c in zip(columns, direction * scale, strict=True):
            weights[FEATURES[i]] = round(float(c), 3)
        top1 = [y[g == k][np.argmax(raw[g == k])] for k in np.unique(g)]
        fitted[name] = {
            "weights": weights,
            "bias": round(bias, 3),
            "top1_contains_answer": round(float(np.sum(top1)) / len(qs), 4),
        }
    print(json.dumps(fitted), file=sys.stderr, flush=True)
    return fitted


def listwise_fit(x: Any, y: Any, groups: Any, l2: float = 1e-3) -> Any:
    """Weights maximising, per question, the softmax probability of its answer-holding sentences."""
    from scipy.optimize import minimize

    keep = np.isin(groups, np.unique(groups[y == 1]))
    x, y, groups = x[keep], y[keep], groups[keep]
    _, inverse = np.unique(groups, return_inverse=True)
    count = int(inverse.max()) + 1

    def loss(w: Any) -> tuple[float, Any]:
        z = x @ w
        top = np.full(count, -np.inf)
        np.maximum.at(top, inverse, z)
        e = np.exp(z - top[inverse])
        total = np.bincount(inverse, e, count)
        positive = np.bincount(inverse, e * y, count)
        value = -np.sum(np.log(positive / total)) + l2 * w @ w
        p_all = e / total[inverse]
        p_pos = np.where(y == 1, e / positive[inverse], 0.0)
        grad = -(x.T @ (p_pos - p_all)) + 2 * l2 * w
        return float(value), grad

    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x


def settings_with(base: AnswerSettings, fitted: dict[str, Any], dense: bool) -> AnswerSettings:
    update: dict[str, Any] = {f"w_{k}": v for k, v in fitted["weights"].items()}
    update |= {"bias": fitted["bias"], "sentence_dense": dense}
    return base.model_copy(update=update)


def sweep(
    rag: RagService,
    collection: str,
    qs: list[Question],
    hits: dict[str, list[SearchHit]],
    settings: AnswerSettings,
) -> dict[str, Any]:
    """Answer size and found threshold on the tuning half (selections computed once)."""
    selector = SentenceSelector(settings, rag.embedder)
    min_dense = rag.settings.answer_min_dense
    with_gold, without = [], []
    for q in qs:
        with_gold.append(
            (q, selection_for(selector, rag, collection, q.text, answer_hits(hits[q.id], settings, min_dense)))
        )
        stripped = without_gold(hits[q.id], q.gold_doc, settings.passages)
        without.append(selection_for(selector, rag, collection, q.text, relevant(stripped, min_dense)).best_score)
    grid = []
    for max_sentences in (1, 2, 3):
        for ratio in (0.0, 0.3, 0.5, 0.7, 0.9, 1.0):
            s = settings.model_copy(
                update={"max_sentences": max_sentences, "second_sentence_ratio": ratio, "found_threshold": 0.0}
            )
            contained = sentences = 0
            for q, selection in with_gold:
                chosen = selection.answer_sentences(s)
                sentences += len(chosen)
                contained += any(
                    c.hit.doc_id == q.gold_doc and contains_answer(c.sentence.text, q.answers) for c in chosen
                )
            grid.append(
                {
                    "max_sentences": max_sentences,
                    "ratio": ratio,
                    "contained": round(contained / len(qs), 4),
                    "mean_sentences": round(sentences / len(qs), 3),
                }
            )
            if max_sentences == 1:
                break
    positives = np.array([sel.best_score for _, sel in with_gold])
    negatives = np.array(without)
    thresholds = []
    for threshold in np.round(np.arange(0.0, 1.0, 0.02), 2):
        tp = float(np.sum(positives >= threshold))
        fp = float(np.sum(negatives >= threshold))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(positives)
        thresholds.append(
            {
                "threshold": float(threshold),
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            }
        )
    return {"answer_size": grid, "found": thresholds}


def report(
    rag: RagService,
    collection: str,
    qs: list[Question],
    hits: dict[str, list[SearchHit]],
    settings: AnswerSettings,
) -> dict[str, Any]:
    selector = SentenceSelector(settings, rag.embedder)
    min_dense = rag.settings.answer_min_dense
    r1 = r5 = reranked_r1 = cited = contained = em = f1 = found_tp = found_fn = found_fp = found_tn = 0.0
    citations = 0
    for q in qs:
        ranked = list(dict.fromkeys(h.doc_id for h in hits[q.id]))
        r1 += q.gold_doc in ranked[:1]
        r5 += q.gold_doc in ranked[:5]
        kept = answer_hits(hits[q.id], settings, min_dense)
        selection = selection_for(selector, rag, collection, q.text, kept)
        answer = extractive_answer(kept, selection, settings)
        reranked_r1 += bool(answer.passages) and answer.passages[0].doc_id == q.gold_doc
        cited_docs = {c.doc_id for c in answer.citations}
        citations += len(cited_docs)
        cited += q.gold_doc in cited_docs
        contained += answer.found and contains_answer(answer.answer, q.answers)
        em += max(exact_match(answer.answer if answer.found else "", a) for a in q.answers)
        f1 += max(squad_f1(answer.answer if answer.found else "", a) for a in q.answers)
        found_tp += answer.found
        found_fn += not answer.found
        stripped = relevant(without_gold(hits[q.id], q.gold_doc, settings.passages), min_dense)
        negative = extractive_answer(stripped, selection_for(selector, rag, collection, q.text, stripped), settings)
        found_fp += negative.found
        found_tn += not negative.found
    n = len(qs)
    return {
        "retrieval_r1": round(r1 / n, 4),
        "retrieval_r5": round(r5 / n, 4),
        "reranked_r1": round(reranked_r1 / n, 4),
        "gold_cited": round(cited / n, 4),
        "mean_cited_documents": round(citations / n, 3),
        "extractive_contains_answer": round(contained / n, 4),
        "extractive_em": round(em / n, 4),
        "extractive_f1": round(f1 / n, 4),
        "found_precision": round(found_tp / (found_tp + found_fp), 4) if found_tp + found_fp else None,
        "found_recall": round(found_tp / n, 4),
        "not_found_precision": round(found_tn / (found_tn + found_fn), 4) if found_tn + found_fn else None,
        "not_found_recall": round(found_tn / n, 4),
    }


def generative(answerer: Answerer, collection: str, qs: list[Question], budget_s: float) -> dict[str, Any]:
    async def run() -> list[tuple[Question, Answer, float]]:
        out = []
        deadline = time.monotonic() + budget_s
        for i, q in enumerate(qs):
            if time.monotonic() > deadline:
                print(f"  generative: time budget spent after {i} questions", file=sys.stderr, flush=True)
                break
            started = time.perf_counter()
            answer = await answerer.answer(collection, q.text, mode="generative")
            out.append((q, answer, (time.perf_counter() - started) * 1000))
            print(
                f"  generative {i + 1}/{len(qs)}: {answer.mode} {answer.answer[:60]!r} gold {q.answers[0]!r}",
                file=sys.stderr,
                flush=True,
            )
        return out

    results = asyncio.run(run())
    n = len(results)
    verified = [a for _, a, _ in results if a.mode == "generative"]
    supported = sum(verify(a.answer, [c.quote or c.text for c in a.citations]).ok for _, a, _ in results if a.found)
    answered = sum(a.found for _, a, _ in results)
    reasons: dict[str, int] = {}
    for _, a, _ in results:
        reason = a.meta.get("fallback_reason")
        if reason:
            key = str(reason).split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    return {
        "generative_sample": n,
        "generative_em": round(
            sum(max(exact_match(a.answer if a.found else "", g) for g in q.answers) for q, a, _ in results) / n, 4
        ),
        "generative_f1": round(
            sum(max(squad_f1(a.answer if a.found else "", g) for g in q.answers) for q, a, _ in results) / n, 4
        ),
        "generative_em_verified_only": round(
            sum(max(exact_match(a.answer, g) for g in q.answers) for q, a, _ in results if a.mode == "generative")
            / max(len(verified), 1),
            4,
        ),
        "generative_verified_share": round(len(verified) / n, 4),
        "generative_fallback_reasons": reasons,
        "answers_terms_in_cited_sentences": round(supported / max(answered, 1), 4),
        "generative_p50_ms": round(statistics.median(ms for _, _, ms in results), 1),
    }


def http_ask_latency(store: Path, collection: str, texts: list[str]) -> dict[str, Any]:
    """p50/p99 of POST /api/v1/ask (extractive) from this process to a uvicorn process of its own."""
    with served_api(store, {}, timeout_s=60, start_s=90) as client:
        body = {"collection": collection, "answer_mode": "extractive"}
        for text in texts[:5]:  # warm-up: snapshot and lexical index build
            client.post("/api/v1/ask", json={**body, "question": text}).raise_for_status()
        latencies = []
        for text in texts[5:]:
            started = time.perf_counter()
            client.post("/api/v1/ask", json={**body, "question": text}).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "requests": len(latencies),
    }


def scifact_claims(folder: Path, limit: int) -> list[str]:
    return [str(q["text"]) for q, _ in zip(read_jsonl(folder / "queries.jsonl"), range(limit), strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--store", type=Path, default=None, help="vector store folder (default: a temp dir)")
    parser.add_argument("--collection", default="squad")
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions of the half (smoke runs)")
    parser.add_argument("--generative", type=int, default=40, help="report-half questions answered by the local model")
    parser.add_argument(
        "--generative-every",
        type=int,
        default=65,
        help="the generative sample is every n-th question of the half (65: the 40 of the ask-squad suites)",
    )
    parser.add_argument(
        "--generative-budget-s", type=float, default=1800.0, help="stop the generative sample after this long"
    )
    parser.add_argument("--http-only", action="store_true", help="only the /ask HTTP latency")
    parser.add_argument("--http-store", type=Path, default=None, help="store for the HTTP latency (default: --store)")
    parser.add_argument("--http-collection", default=None)
    parser.add_argument("--http-queries", type=Path, default=None, help="BEIR folder whose claims are asked over HTTP")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    store = args.store or Path(tempfile.mkdtemp(prefix="insight-ask-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, vectorstore=VectorStoreSettings(path=store), embeddings=EmbeddingSettings(threads=2)
    )
    rag = build_rag_service(settings)
    if args.collection not in rag.store.names() or not rag.store.count(args.collection):
        report_ = rag.ingest(args.collection, corpus_documents(args.data))
        print(f"  ingested {report_.chunks_embedded} chunks", file=sys.stderr)
    all_questions = questions(args.data)
    half = "tune" if args.tune else "report"
    qs = [q for q in all_questions if q.half == half]
    if args.limit:
        qs = qs[: args.limit]
    answer_settings = settings.answer
    if args.http_only:
        http_store = args.http_store or store
        texts = scifact_claims(args.http_queries, 205) if args.http_queries else [q.text for q in qs[:205]]
        latency = http_ask_latency(http_store, args.http_collection or args.collection, texts)
        print(json.dumps({f"ask_http_extractive_{k}": v for k, v in latency.items()} | {"store": str(http_store)}))
        return
    depth = answer_settings.passages + 3  # room to drop the gold paragraph's chunks for the not-found pairs
    hits = retrieve(rag, args.collection, qs, depth)
    if args.tune:
        fitted = tune(rag, args.collection, qs, hits, answer_settings)
        chosen = settings_with(answer_settings, fitted["no_dense"], dense=False)
        swept = sweep(rag, args.collection, qs, hits, chosen)
        print(json.dumps({"half": half, "questions": len(qs), "fitted": fitted, **swept}))
        return
    result: dict[str, Any] = {
        "data": str(args.data),
        "split": "questions of odd-numbered articles (tuning: even)",
        "questions": len(qs),
        "answer_settings": answer_settings.model_dump(),
        **report(rag, args.collection, qs, hits, answer_settings),
    }
    if args.generative:
        from insight.llm.slot import LLMSlot
        from insight.prompts import PromptRegistry

        prompts = PromptRegistry(settings.prompts_dir)
        answerer = build_answerer(
            settings.search, rag, LLMSlot(settings.llm, prompts=prompts), prompts, answer=answer_settings
        )
        sample = qs[:: args.generative_every][: args.generative]
        result |= generative(answerer, args.collection, sample, args.generative_budget_s)
    if not args.skip_http:
        http_store = args.http_store or store
        http_collection = args.http_collection or args.collection
        texts = scifact_claims(args.http_queries, 205) if args.http_queries else [q.text for q in qs[:205]]
        result |= {
            f"ask_http_extractive_{k}": v for k, v in http_ask_latency(http_store, http_collection, texts).items()
        }
        result["ask_http_store"] = f"{http_store} ({http_collection})"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
