"""Evaluation data: JSONL case files and BEIR-layout folders, each identified by the sha256 of its bytes.

The hash goes into every tracked run, so a score always names the exact data it was measured on.
Third-party data (a BEIR folder) is read where it lies, never copied.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from insight.errors import SuiteInvalid
from insight.evaluation.squad import article_half
from insight.hashing import BLOCK


@dataclass(frozen=True)
class Dataset:
    """Cases (one JSON object each, with a unique ``id``) and the sha256 identifying the data."""

    name: str
    cases: list[dict[str, Any]]
    sha256: str
    source: str
    corpus: Path | None = None  # BEIR: corpus.jsonl(.gz), ingested before a retrieval/ask run


def load_jsonl(path: Path) -> Dataset:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteInvalid(f"cannot read dataset {path}: {exc.strerror}") from exc
    cases = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SuiteInvalid(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(case, dict) or not isinstance(case.get("id"), str):
            raise SuiteInvalid(f"{path}:{number}: each line must be an object with a string 'id'")
        cases.append(case)
    _unique_ids(cases, str(path))
    return Dataset(path.stem, cases, hashlib.sha256(raw).hexdigest(), str(path))


def _unique_ids(cases: list[dict[str, Any]], where: str) -> None:
    seen: set[str] = set()
    for case in cases:
        if case["id"] in seen:
            raise SuiteInvalid(f"{where}: case id {case['id']!r} appears twice")
        seen.add(case["id"])


def _first(folder: Path, names: list[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def beir_files(folder: Path, split: str) -> tuple[Path, Path, Path]:
    """(corpus, queries, qrels) of a BEIR folder: ``qrels/<split>.tsv`` or ``qrels_<split>.tsv``
    (``qrels.tsv`` for test), ``queries_<split>.jsonl`` or ``queries.jsonl``, ``corpus.jsonl[.gz]``."""
    if not folder.is_dir():
        raise SuiteInvalid(f"BEIR folder {folder} does not exist")
    corpus = _first(folder, ["corpus.jsonl", "corpus.jsonl.gz"])
    queries = _first(folder, [f"queries_{split}.jsonl", "queries.jsonl"])
    qrels = _first(folder, [f"qrels/{split}.tsv", f"qrels_{split}.tsv", *(["qrels.tsv"] if split == "test" else [])])
    named = (("corpus", corpus), ("queries", queries), (f"qrels for {split}", qrels))
    missing = [name for name, found in named if not found]
    if missing or corpus is None or queries is None or qrels is None:
        raise SuiteInvalid(f"BEIR folder {folder} lacks {', '.join(missing)}")
    return corpus, queries, qrels


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        file_digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                file_digest.update(block)
        digest.update(f"{path.name}:{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def load_beir(folder: Path, split: str) -> Dataset:
    """The split's judged queries as cases ``{"id", "query", "relevant": {doc_id: grade}}``."""
    corpus, queries_path, qrels_path = beir_files(folder, split)
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(qrels_path.read_text().splitlines(), 1):
        parts = line.split("\t")
        if number == 1 and parts[0] == "query-id":
            continue
        if len(parts) != 3:
            raise SuiteInvalid(f"{qrels_path}:{number}: expected query-id, corpus-id, score")
        grade = int(parts[2])
        if grade > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    cases = []
    for query in _records(queries_path):
        qid = str(query["_id"])
        if qid in qrels:
            cases.append({"id": qid, "query": query["text"], "relevant": qrels[qid]})
    if not cases:
        raise SuiteInvalid(f"{folder}: no judged queries for split {split!r}")
    return Dataset(f"{folder.name}-{split}", cases, _sha256([corpus, queries_path, qrels_path]), str(folder), corpus)


def load_squad(folder: Path, half: str) -> Dataset:
    """One half of a SQuAD-layout folder (BEIR files plus ``answers.jsonl``: ``{"_id", "gold_doc", "answers"}``)
    as cases ``{"id", "query", "relevant": {gold_doc: 1}, "answers": [...]}``; ``half`` is ``tune``, ``report``
    or ``all`` (``article_half``)."""
    corpus, queries_path, _ = beir_files(folder, "test")
    answers_path = folder / "answers.jsonl"
    if not answers_path.is_file():
        raise SuiteInvalid(f"SQuAD folder {folder} lacks answers.jsonl")
    texts = {str(q["_id"]): str(q["text"]) for q in _records(queries_path)}
    cases = []
    for number, record in enumerate(_records(answers_path), 1):
        qid, gold = str(record.get("_id")), str(record.get("gold_doc"))
        answers = record.get("answers")
        if qid not in texts or not isinstance(answers, list) or not answers:
            raise SuiteInvalid(f"{answers_path}:{number}: needs an _id of queries.jsonl, gold_doc and answers")
        try:
            in_half = half == "all" or article_half(gold) == half
        except ValueError as exc:
            raise SuiteInvalid(f"{answers_path}:{number}: {exc}") from exc
        if in_half:
            cases.append({"id": qid, "query": texts[qid], "relevant": {gold: 1}, "answers": [str(a) for a in answers]})
    if not cases:
        raise SuiteInvalid(f"{folder}: no questions in half {half!r}")
    _unique_ids(cases, str(answers_path))
    name = f"{folder.name}-{half}"
    return Dataset(name, cases, _sha256([corpus, queries_path, answers_path]), str(folder), corpus)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per non-blank line; any other line is a clear error."""
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if raw.strip():
            record = orjson.loads(raw)
            if not isinstance(record, dict):
                raise SuiteInvalid(f"{path}:{number}: each line must be a JSON object")
            yield record


def beir_corpus(path: Path) -> Iterator[dict[str, Any]]:
    """The corpus records ``{"_id", "title", "text", …}``, read lazily (gzip or plain)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line in handle:
            if line.strip():
                record: dict[str, Any] = orjson.loads(line)
                yield record
