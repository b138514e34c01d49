"""YAML files read into pydantic models, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from insight.errors import InsightError

Model = TypeVar("Model", bound=BaseModel)


def validation_problems(exc: ValidationError) -> str:
    """``field.path: message; …`` — one entry per problem pydantic found."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors())


def load_yaml_model(
    path: Path,
    model: type[Model],
    *,
    what: str,
    invalid: type[InsightError],
    unreadable: type[InsightError] | None = None,
) -> tuple[Model, bytes]:
    """The validated model and the file's bytes (for hashing); ``what`` names the file in messages.

    ``unreadable`` is raised when the file cannot be read (default: ``invalid``).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise (unreadable or invalid)(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise invalid(f"{what} {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid(f"{what} {path} must be a mapping of fields, not {type(data).__name__}")
    try:
        return model.model_validate(data), raw
    except ValidationError as exc:
        raise invalid(f"{what} {path} is invalid: {validation_problems(exc)}") from None
