"""JSON and text log lines, the request id on every record of a request (worker threads included)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from insight.observability.logging import REQUEST_ID, build_handler, configure_logging
from insight.observability.middleware import RequestContext

log = logging.getLogger("tests.observability")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as our JSON handler writes it."""
    stream = io.StringIO()
    handler = build_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_message_the_request_id_and_extra_fields(json_lines: io.StringIO) -> None:
    token = REQUEST_ID.set("req-1")
    try:
        log.warning("ingested %d documents", 3, extra={"collection": "handbook"})
    finally:
        REQUEST_ID.reset(token)
    log.info("outside a request")
    inside, outside = records(json_lines)
    assert inside["message"] == "ingested 3 documents"
    assert inside["level"] == "WARNING" and inside["logger"] == "tests.observability"
    assert inside["request_id"] == "req-1" and inside["collection"] == "handbook"
    assert str(inside["time"]).endswith("+00:00")
    assert "request_id" not in outside


def test_uvicorn_s_coloured_copy_of_the_message_is_left_out(json_lines: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("Started %d", 1, extra={"color_message": "Started \x1b[36m%d\x1b[0m"})
    (record,) = records(json_lines)
    assert record["message"] == "Started 1" and "color_message" not in record


def test_an_exception_is_one_json_line_with_its_traceback(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("failed")
    lines = json_lines.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "ValueError: bad row" in str(record["exception"])


def test_text_lines_show_the_request_id_or_a_dash() -> None:
    stream = io.StringIO()
    handler = build_handler("text", stream)
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "levelno": 20, "msg": "hello"})
    handler.handle(record)
    token = REQUEST_ID.set("abc")
    try:
        handler.handle(logging.makeLogRecord({"name": "x", "levelname": "INFO", "levelno": 20, "msg": "again"}))
    finally:
        REQUEST_ID.reset(token)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("INFO x [-] hello")
    assert second.endswith("INFO x [abc] again")


def test_configure_logging_twice_keeps_one_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging("INFO", "json", io.StringIO())
        stream = io.StringIO()
        configure_logging("DEBUG", "json", stream)
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1
        logging.getLogger("uvicorn.error").debug("from uvicorn")
        assert json.loads(stream.getvalue())["logger"] == "uvicorn.error"
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)


def test_every_record_of_a_request_carries_its_id(json_lines: io.StringIO) -> None:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        log.info("on the loop")
        await anyio.to_thread.run_sync(lambda: log.info("in a worker thread"))
        return {"ok": "yes"}

    app.add_middleware(RequestContext, metrics=None, log_access=True)
    with TestClient(app) as client:
        response = client.get("/work", headers={"X-Request-ID": "trace-42"})
        other = client.get("/work")
    assert response.headers["X-Request-ID"] == "trace-42"
    generated = other.headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "trace-42"
    lines = records(json_lines)
    first = [r for r in lines if r.get("request_id") == "trace-42"]
    assert [r["message"] for r in first[:2]] == ["on the loop", "in a worker thread"]
    access = first[2]
    assert access["logger"] == "insight.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/work", 200)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert sum(r.get("request_id") == generated for r in lines) == 3


@pytest.mark.parametrize("sent", ["has space", "x" * 129, "line\tbreak", "ünïcode"])
def test_an_unsafe_request_id_is_replaced(sent: str) -> None:
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {}

    app.add_middleware(RequestContext, metrics=None, log_access=False)
    with TestClient(app) as client:
        echoed = client.get("/", headers={"X-Request-ID": sent.encode()}).headers["X-Request-ID"]
    assert echoed != sent and len(echoed) == 32


def test_a_library_that_sets_debug_on_import_follows_the_service_level() -> None:
    import bm25s  # noqa: F401  (sets its logger to DEBUG when imported)

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    library = logging.getLogger("bm25s")
    try:
        stream = io.StringIO()
        configure_logging("INFO", "json", stream)
        library.debug("Building index from tokens")
        assert stream.getvalue() == ""
        library.info("kept")
        assert json.loads(stream.getvalue())["message"] == "kept"
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
        library.setLevel(logging.DEBUG)
