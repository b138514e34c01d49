"""Insights of recently posted data, by content: the same table posted again is not parsed and computed again.

Parsing a table and running the insight engine costs tens to hundreds of milliseconds of pandas/scipy work
per request (CPU, under the GIL). Analysts often post one table several times; the key covers everything
the result depends on (the bytes as posted, how they were posted, the limits, sampling, the engine's
settings and the question, which boosts the ranking), so a hit returns exactly what recomputing would.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from insight.analysis.chain import Computed

Prepared = Computed


def profile_key(parts: Iterable[str | bytes]) -> str:
    """A sha256 over ``parts``, each length-prefixed so that no two different sequences collide by joining."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class ProfileCache:
    """A thread-safe LRU of ``Computed`` (parsed table and insights) by key; ``max_entries`` 0 turns it off.

    Cached values are shared between requests: callers must not modify them (the analysis chain only reads).
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Prepared | None:
        """The cached value (counted as a hit), or None (not counted: ``get_or_compute`` follows)."""
        if self.max_entries == 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return found

    def get_or_compute(self, key: str, compute: Callable[[], Prepared]) -> tuple[Prepared, bool]:
        """The cached value and True, or ``compute()`` (stored) and False. Errors from ``compute`` are not cached."""
        if self.max_entries == 0:
            return compute(), False
        found = self.get(key)
        if found is not None:
            return found, True
        value = compute()  # outside the lock: two first requests for one table may both compute it
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value, False
