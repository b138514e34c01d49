"""OpenAPI for bodies a route reads itself (JSON or multipart): schemas that stand alone in the document.

``Model.model_json_schema()`` puts nested models under its own ``$defs`` and points at them with
``#/$defs/Name``; inside an OpenAPI document ``#`` is the document's root, where no ``$defs`` exist, so
such a reference dangles and generated clients cannot build the body. ``inline_schema`` resolves them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DEFS = "#/$defs/"


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with every ``$defs`` entry written out where it is used (no ``$ref`` left)."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            name = ref.removeprefix(_DEFS)
            if name in seen:
                raise ValueError(f"{model.__name__}: {name} refers to itself; a recursive model cannot be inlined")
            target = resolve(defs[name], seen | {name})
            return {**target, **{key: resolve(value, seen) for key, value in node.items() if key != "$ref"}}
        return {key: resolve(value, seen) for key, value in node.items()}

    resolved: dict[str, Any] = resolve(schema, frozenset())
    return resolved


def request_body(json_model: type[BaseModel], multipart: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a required body sent as ``json_model`` (JSON) or as the ``multipart`` form described."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(json_model)},
                "multipart/form-data": multipart,
            },
        }
    }
