"""Reading JSON bodies fast (orjson) without losing precise errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from insight.errors import FieldProblem, InvalidInput, PayloadTooLarge


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {max_bytes}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses NaN/Infinity and out-of-range numbers; the stdlib parser accepts
        # them, so the field-level validation can say which value is not finite.
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput([FieldProblem(("body",), f"body is not valid JSON: {exc}", "json_invalid")]) from exc
    if not isinstance(payload, dict):
        raise InvalidInput([FieldProblem(("body",), "body must be a JSON object", "model_attributes_type")])
    return payload


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], payload: dict[str, Any]) -> M:
    """``payload`` as ``model``, or ``InvalidInput`` naming each bad field under ``body``."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInput(
            [FieldProblem(("body", *err["loc"]), err["msg"], err["type"]) for err in exc.errors()]
        ) from exc


def required_field(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise InvalidInput([FieldProblem(("body", name), "field required", "missing")])
    extra = sorted(set(payload) - {name})
    if extra:
        raise InvalidInput([FieldProblem(("body", key), "unknown field", "extra_forbidden") for key in extra])
    return payload[name]
