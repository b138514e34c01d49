"""Property-based bad input against the app's own OpenAPI schema (schemathesis, in-process ASGI).

Every operation gets a bounded, derandomized set of generated requests (schema examples, boundary
values, then random ones). Checks: no 5xx, and every error response carries a message. The app runs
with auth on (called with an admin key, so requests get past auth and into the routes), a hash
embedder, embedded Chroma seeded with a collection, a real trained predictor, and a scripted model
that answers both structured (tool-call) and plain-text requests, so no route fails for want of one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from insight.api.app import create_app
from insight.api.deps import Services
from insight.auth import KeyStore
from insight.config import EvaluationSettings, LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from insight.rag.ingest import SourceDocument
from insight.rag.loaders import LoadedDocument
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings
from tests.llm.fakes import SchemaAwareFake

EXAMPLES_PER_OPERATION = 25
# One set of tool arguments that fits every structured output the routes ask for (each schema ignores
# the others' fields): the analysis narration plan, and /ask's passage choice and cited answer.
TOOL_ARGS: dict[str, Any] = {
    "lead": [1],
    "summary": "Revenue grows with units (n = {1.n}).",
    "key_points": [{"insight": 1, "wording": "Revenue grows with units over {1.n} rows."}],
    "recommendations": [],
    "passages": [1],
    "answer": "Refunds are paid within 30 days.",
    "sentence": 1,
}


def _build(settings: Settings) -> Services:
    model = SchemaAwareFake(messages=iter(()), default_args=TOOL_ARGS, text="Refunds are paid within 30 days [1].")
    services = build_with_fakes(
        settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
    )
    text = "Refunds are paid within 30 days to the original card."
    services.rag.require().ingest(
        "handbook",
        [SourceDocument("refunds", LoadedDocument(source="refunds", title="Refunds", text=text, kind="text"), {})],
    )
    return services


class _DeferredApp:
    """The ASGI app under test, set by the fixture: the schema must exist at collection time, the app
    (which needs the session's trained model) only once fixtures run. Lifespan messages pass through."""

    target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


_deferred = _DeferredApp()
_admin_key: dict[str, str] = {}
# The OpenAPI document does not depend on the services, so an app that is never started gives it.
schema = schemathesis.openapi.from_dict(create_app(make_settings(Path("unused"))).openapi())
schema.app = _deferred
schema.location = "/openapi.json"


@pytest.fixture(scope="module", autouse=True)
def _app_under_test(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path) -> Iterator[None]:
    root = tmp_path_factory.mktemp("schemathesis")
    # No suites: a generated POST /api/v1/evals gets its 404, not a background run competing for the CPU.
    (root / "suites").mkdir()
    app_settings = make_settings(
        root,
        model_dir=trained_model_dir,
        auth=auth_settings(root),
        evaluation=EvaluationSettings(suites_dir=root / "suites", cache_dir=root / "eval-cache"),
    )
    _admin_key["Authorization"] = "Bearer " + KeyStore(app_settings.auth.keys_path).create("fuzz", ["admin"]).key
    _deferred.target = create_app(app_settings, build=_build)
    yield
    shutdown_lifespans()


def _error_has_message(response: Any) -> None:
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        pytest.fail(f"{response.status_code} without a JSON body: {response.content[:200]!r}")
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip(), (
        f"{response.status_code} without a message: {body!r}"
    )


def test_the_app_under_test_answers_past_the_model() -> None:
    """So the fuzzing reaches the routes' real work: ask and analyze succeed with this app's fake model."""
    with TestClient(_deferred.target, headers=_admin_key) as client:
        question = {"collection": "handbook", "question": "How long do refunds take?", "answer_mode": "passages"}
        asked = client.post("/api/v1/ask", json=question)  # the mode that reaches the model
        assert asked.status_code == 200 and asked.json()["citations"][0]["doc_id"] == "refunds", asked.text
        units = [12, 45, 33, 27, 19, 41, 38, 22, 15, 30, 44, 26]
        table = {"data": [{"units": u, "revenue": u * 10.0 + (i % 3)} for i, u in enumerate(units)]}
        analyzed = client.post("/api/v1/analyze", json=table)
        assert analyzed.status_code == 200, analyzed.text
        body = analyzed.json()
        assert body["meta"]["narrator"] == "model", body["meta"]
        assert body["result"]["summary"].endswith("Revenue grows with units (n = 12)."), body["result"]


OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_server_errors_and_every_error_has_a_message(operation: APIOperation) -> None:
    """Valid requests (positive mode) and invalid ones (negative mode: wrong types, missing fields, …)."""

    @given(
        case=st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=_admin_key)
        case.validate_response(response, checks=[not_a_server_error])
        _error_has_message(response)

    check()
