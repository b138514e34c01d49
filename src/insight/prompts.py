"""Prompts as data: ``prompts/<name>/v<N>.yaml`` files, validated and hashed, served as ``ChatPromptTemplate``.

A file holds ``name``, ``version``, ``description``, ``input_variables``, either ``template`` (one human
message) or ``messages`` (``[{role: system|human, content: …}]``), optional ``model_params`` (temperature,
max_tokens, …) and optional ``defaults`` (values for variables a caller may leave out). Templates use
f-string syntax (``{variable}``; a literal brace is written ``{{`` or ``}}``); the placeholders they use
must equal ``input_variables`` exactly. Each prompt's identity is its name, version and the sha256 of
its file's bytes: put ``Prompt.metadata`` into every response and tracked run.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict, Field, model_validator

from insight.errors import PromptInvalid, PromptNotFound
from insight.yamlfile import load_yaml_model

_FILE_NAME = re.compile(r"^v(?P<version>[1-9][0-9]*)\.yaml$")
_NAME = r"^[a-z][a-z0-9_]*$"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "human"]
    content: str = Field(min_length=1)


class ModelParams(BaseModel):
    """Model settings a prompt was written for; unknown keys are kept and passed on as given."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)


class PromptFile(BaseModel):
    """The YAML schema of one prompt file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    version: int = Field(ge=1)
    description: str = Field(min_length=1)
    input_variables: list[str]
    template: str | None = None
    messages: list[PromptMessage] | None = None
    model_params: ModelParams = Field(default_factory=ModelParams)
    defaults: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_template(self) -> PromptFile:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of 'template' (a string) or 'messages' (a list)")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' is empty")
        if self.template is not None and not self.template.strip():
            raise ValueError("'template' is empty")
        return self

    def message_pairs(self) -> list[tuple[str, str]]:
        if self.messages is not None:
            return [(message.role, message.content) for message in self.messages]
        assert self.template is not None
        return [("human", self.template)]


def placeholders(text: str) -> set[str]:
    """The f-string variables ``text`` uses; raises ``ValueError`` on malformed or non-simple fields."""
    names: set[str] = set()
    for _literal, field_name, _spec, _conversion in string.Formatter().parse(text):
        if field_name is None:
            continue
        if not _IDENTIFIER.match(field_name):
            raise ValueError(
                f"placeholder {{{field_name}}} is not a plain variable name (write a literal brace as {{{{ or }}}})"
            )
        names.add(field_name)
    return names


@dataclass(frozen=True)
class Prompt:
    """One validated prompt version, ready to use as a LangChain ``ChatPromptTemplate``."""

    name: str
    version: int
    description: str
    input_variables: tuple[str, ...]
    model_params: ModelParams
    defaults: dict[str, str]
    sha256: str
    path: Path
    template: ChatPromptTemplate = field(repr=False)

    @property
    def metadata(self) -> dict[str, str | int]:
        """What identifies this prompt in responses and tracked runs."""
        return {"prompt_name": self.name, "prompt_version": self.version, "prompt_sha256": self.sha256}

    def variables(self, **values: str | None) -> dict[str, str]:
        """``values`` with ``defaults`` filled in for those left out or None; unknown or missing names raise."""
        unknown = sorted(set(values) - set(self.input_variables))
        if unknown:
            raise ValueError(f"prompt {self.name} v{self.version} has no variable(s) {', '.join(unknown)}")
        filled = {**self.defaults, **{key: value for key, value in values.items() if value is not None}}
        missing = [name for name in self.input_variables if name not in filled]
        if missing:
            raise ValueError(f"prompt {self.name} v{self.version} needs variable(s) {', '.join(missing)}")
        return filled

    def format_messages(self, **values: str | None) -> list[BaseMessage]:
        return self.template.format_messages(**self.variables(**values))


def _load(path: Path, expected_name: str, expected_version: int) -> Prompt:
    where = str(path)
    spec, raw = load_yaml_model(path, PromptFile, what="prompt", invalid=PromptInvalid)
    if spec.name != expected_name or spec.version != expected_version:
        raise PromptInvalid(
            f"{where}: declares {spec.name} v{spec.version} but its path says {expected_name} v{expected_version}"
        )
    declared = spec.input_variables
    duplicates = sorted({name for name in declared if declared.count(name) > 1})
    if duplicates:
        raise PromptInvalid(f"{where}: input_variables lists {', '.join(duplicates)} more than once")
    used: set[str] = set()
    for index, (role, content) in enumerate(spec.message_pairs()):
        try:
            used |= placeholders(content)
        except ValueError as exc:
            raise PromptInvalid(f"{where}: message {index} ({role}): {exc}") from None
    missing, extra = sorted(set(declared) - used), sorted(used - set(declared))
    if missing or extra:
        parts = []
        if extra:
            parts.append(f"the template uses {', '.join(extra)} which input_variables does not declare")
        if missing:
            parts.append(f"input_variables declares {', '.join(missing)} which the template never uses")
        raise PromptInvalid(f"{where}: {'; '.join(parts)}")
    stray = sorted(set(spec.defaults) - set(declared))
    if stray:
        raise PromptInvalid(f"{where}: defaults given for undeclared variable(s) {', '.join(stray)}")
    template = ChatPromptTemplate.from_messages(spec.message_pairs(), template_format="f-string")
    if spec.defaults:
        template = template.partial(**spec.defaults)  # so `prompt.template | model` may leave them out
    return Prompt(
        name=spec.name,
        version=spec.version,
        description=spec.description.strip(),
        input_variables=tuple(declared),
        model_params=spec.model_params,
        defaults=dict(spec.defaults),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
        template=template,
    )


class PromptRegistry:
    """Every prompt under ``root`` (``<name>/v<N>.yaml``), loaded and validated up front so bad files fail fast."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise PromptInvalid(f"prompt folder {root} does not exist")
        self.root = root
        self._prompts: dict[str, dict[int, Prompt]] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(folder.glob("*.yaml")):
                match = _FILE_NAME.match(path.name)
                if match is None:
                    raise PromptInvalid(f"{path}: prompt files are named v<N>.yaml (v1.yaml, v2.yaml, …)")
                prompt = _load(path, folder.name, int(match["version"]))
                self._prompts.setdefault(prompt.name, {})[prompt.version] = prompt

    def names(self) -> list[str]:
        return sorted(self._prompts)

    def versions(self, name: str) -> list[int]:
        return sorted(self._by_name(name))

    def get(self, name: str, version: int | None = None) -> Prompt:
        """Version ``version`` of ``name``, or its latest version when None."""
        versions = self._by_name(name)
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            available = ", ".join(f"v{v}" for v in sorted(versions))
            raise PromptNotFound(f"prompt {name!r} has no version {version}; available: {available}") from None

    def list(self) -> list[Prompt]:
        """Every prompt version, by name then version."""
        return [self._prompts[name][version] for name in self.names() for version in self.versions(name)]

    def _by_name(self, name: str) -> dict[int, Prompt]:
        try:
            return self._prompts[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise PromptNotFound(f"no prompt named {name!r}; available: {known}") from None


def default_prompt_root() -> Path:
    """The repository's top-level ``prompts/`` folder (next to ``src/``)."""
    return Path(__file__).resolve().parents[2] / "prompts"


def model_params_dict(prompt: Prompt) -> dict[str, Any]:
    """The prompt's model params that are set, as plain keyword arguments (e.g. for ``model.bind``)."""
    return prompt.model_params.model_dump(exclude_none=True)
