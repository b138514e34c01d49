"""An on-disk cache of model outputs: JSON objects by a sha256 key.

A re-run of unchanged cases reads the recorded output instead of calling the model: cheap, and
deterministic even for a sampling model. The keys are made by its users: the ask suites' chat client
(``insight.llm.caching.CachingLLMClient``: model identity, messages, parameters, schema, variant) and the
analysis scorer (``cache_key``: prompt hash, model, rendered input, params). Any change to the prompt file,
the model, the rendered input or the parameters gives a new key. Entries are written atomically
(``insight.files``); ``hits`` and ``misses`` count the look-ups.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from insight.files import atomic_write_bytes


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


class OutputCache:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            self.misses += 1
            return None
        try:
            value: dict[str, Any] = orjson.loads(self._path(key).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.root is None:
            return
        atomic_write_bytes(self._path(key), orjson.dumps(value))
