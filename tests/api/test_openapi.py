"""The OpenAPI document is valid and self-contained: every ``$ref`` resolves inside it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from openapi_spec_validator import validate
from pydantic import BaseModel

from insight.api.app import create_app
from insight.api.openapi import inline_schema, request_body
from tests.conftest import make_settings


def dangling_refs(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, reference) for every ``$ref`` that does not resolve to a node of ``document``."""
    found: list[tuple[str, str]] = []

    def resolves(ref: str) -> bool:
        if not ref.startswith("#/"):
            return False  # the document references nothing outside itself
        node: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not resolves(ref):
                found.append((where, ref))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(document, "#")
    return found


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = make_settings(tmp_path_factory.mktemp("openapi"))
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def test_the_schema_is_valid_openapi(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)  # raises with the first problem


def test_every_reference_resolves_and_no_local_defs_are_left(document: dict[str, Any]) -> None:
    assert dangling_refs(document) == []
    assert "$defs" not in repr(document["paths"])


def test_bodies_read_by_the_routes_themselves_are_documented_in_full(document: dict[str, Any]) -> None:
    ingest = document["paths"]["/api/v1/collections/{name}/documents"]["post"]["requestBody"]["content"]
    items = ingest["application/json"]["schema"]["properties"]["documents"]["items"]
    assert "text" in items["properties"] and "text" in items["required"]
    assert ingest["multipart/form-data"]["schema"]["required"] == ["files"]
    analyze = document["paths"]["/api/v1/analyze"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(analyze)


class Part(BaseModel):
    name: str


class Whole(BaseModel):
    main: Part
    spare: list[Part] = []
    maybe: Part | None = None


class Tree(BaseModel):
    children: list[Tree] = []


def _app_with_body(schema_of_whole: dict[str, Any]) -> dict[str, Any]:
    app = FastAPI()

    @app.post("/whole", openapi_extra={"requestBody": {"content": {"application/json": {"schema": schema_of_whole}}}})
    async def whole(request: Request) -> None: ...

    openapi: dict[str, Any] = app.openapi()
    return openapi


def test_the_check_finds_what_a_plain_model_schema_leaves_dangling() -> None:
    plain = _app_with_body(Whole.model_json_schema())
    assert {ref for _, ref in dangling_refs(plain)} == {"#/$defs/Part"}
    assert dangling_refs(_app_with_body(inline_schema(Whole))) == []


def test_nested_models_are_written_out_where_they_are_used() -> None:
    schema = inline_schema(Whole)
    assert "$defs" not in schema and "$ref" not in repr(schema)
    assert schema["properties"]["main"]["properties"]["name"]["type"] == "string"
    assert schema["properties"]["spare"]["items"]["required"] == ["name"]
    assert {"type": "null"} in schema["properties"]["maybe"]["anyOf"]
    with pytest.raises(ValueError, match="recursive"):
        inline_schema(Tree)


def test_request_body_documents_json_and_multipart() -> None:
    body = request_body(Whole, {"schema": {"type": "object"}})["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == inline_schema(Whole)
    assert body["content"]["multipart/form-data"] == {"schema": {"type": "object"}}
