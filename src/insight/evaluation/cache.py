"""An on-disk cache of model outputs keyed by (prompt hash, model, input, params).

A re-run of unchanged cases reads the recorded output instead of calling the model: cheap, and
deterministic even for a sampling model. Any change to the prompt file, the model, the rendered input
or the parameters gives a new key. Entries are written atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


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
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(value))
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
