"""What a key may do. Scopes are strings:

- ``admin``: everything, including every collection and the evaluation routes;
- ``read:<collection>``: search, ask over, see and get the stats of that collection;
- ``write:<collection>``: read, plus create it, ingest into it, delete its documents or delete it;
- ``analyze``, ``predict``, ``eval``: the analysis, prediction and evaluation routes.

``<collection>`` is a collection name or ``*`` (every collection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from insight.errors import Forbidden

Right = Literal["read", "write"]
SERVICE_SCOPES = frozenset({"admin", "analyze", "predict", "eval"})
_COLLECTION_SCOPE = re.compile(r"^(read|write):(\*|[a-z0-9][a-z0-9_-]{0,62})$")


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """The scopes, checked and de-duplicated in order; ``ValueError`` names the first bad one."""
    scopes: list[str] = []
    for raw in values:
        scope = raw.strip()
        if scope not in SERVICE_SCOPES and not _COLLECTION_SCOPE.match(scope):
            raise ValueError(
                f"unknown scope {raw!r}: use admin, analyze, predict, eval, read:<collection> or write:<collection> "
                "(collection '*' for all)"
            )
        if scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise ValueError("a key needs at least one scope")
    return tuple(scopes)


@dataclass(frozen=True)
class Principal:
    """The caller, as its verified key describes it."""

    key_id: str
    name: str
    scopes: frozenset[str]
    rate_limit: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def has(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def can(self, right: Right, collection: str) -> bool:
        if self.is_admin:
            return True
        wanted = ("write",) if right == "write" else ("read", "write")
        return any(f"{r}:{c}" in self.scopes for r in wanted for c in (collection, "*"))

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"this API key ({self.key_id}) lacks the '{scope}' scope")

    def require_collection(self, right: Right, collection: str) -> None:
        if not self.can(right, collection):
            raise Forbidden(f"this API key ({self.key_id}) has no {right} access to collection {collection!r}")
