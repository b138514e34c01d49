"""API keys in a SQLite file: only a sha256 of each key is stored; the key itself is shown once, at creation.

A key is ``ins_<id>_<secret>``: the id (public, for listing and revoking) finds the row, and the
sha256 of the whole key must match the stored one. The secret carries 256 bits from ``secrets``,
so a plain sha256 is enough (a slow hash protects low-entropy passwords, which these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from limits import parse_many

from insight.auth.scopes import Principal, parse_scopes
from insight.errors import ConfigError, KeyNotFound

KEY_PREFIX = "ins_"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    rate_limit TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    scopes: tuple[str, ...]
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        return Principal(key_id=self.id, name=self.name, scopes=frozenset(self.scopes), rate_limit=self.rate_limit)


@dataclass(frozen=True)
class CreatedKey:
    key: str
    record: KeyRecord


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a presented key: the record when it matched, and why not when it did not."""

    record: KeyRecord | None
    problem: str | None = None


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _row_to_record(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        name=row["name"],
        scopes=tuple(json.loads(row["scopes"])),
        rate_limit=row["rate_limit"],
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
    )


class KeyStore:
    """Create, list, revoke and verify keys. Each call opens its own connection (CLI and server share the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = not self.path.exists()
            with closing(sqlite3.connect(self.path, timeout=5.0)) as conn:
                if fresh:
                    os.chmod(self.path, 0o600)
                conn.row_factory = sqlite3.Row
                conn.execute(_SCHEMA)
                with conn:
                    yield conn
        except sqlite3.Error as exc:
            raise ConfigError(f"API key store {self.path} cannot be used: {exc}") from exc

    def create(self, name: str, scopes: Iterable[str], rate_limit: str | None = None) -> CreatedKey:
        checked = parse_scopes(scopes)
        if not name.strip():
            raise ValueError("a key needs a name (who or what uses it)")
        if rate_limit is not None:
            try:
                parse_many(rate_limit)
            except ValueError as exc:
                raise ValueError(f"rate limit {rate_limit!r} is not in the '<count>/<period>' notation") from exc
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = KeyRecord(
            id=key_id,
            name=name.strip(),
            scopes=checked,
            rate_limit=rate_limit,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, key_sha256, scopes, rate_limit, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, record.name, key_digest(key), json.dumps(checked), rate_limit, record.created_at.isoformat()),
            )
        return CreatedKey(key=key, record=record)

    def list(self, include_revoked: bool = False) -> list[KeyRecord]:
        query = "SELECT * FROM api_keys" + ("" if include_revoked else " WHERE revoked_at IS NULL")
        with self._connect() as conn:
            return [_row_to_record(row) for row in conn.execute(query + " ORDER BY created_at")]

    def revoke(self, key_id: str) -> KeyRecord:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise KeyNotFound(f"no API key with id {key_id!r}")
            if row["revoked_at"] is None:
                conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (datetime.now(UTC).isoformat(), key_id))
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return _row_to_record(row)

    def verify(self, key: str) -> Verification:
        key_id = _key_id(key)
        if key_id is None:
            return Verification(None, "the API key is malformed")
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None or not hmac.compare_digest(row["key_sha256"], key_digest(key)):
            return Verification(None, "the API key is not valid")
        record = _row_to_record(row)
        if not record.active:
            return Verification(None, f"the API key {key_id} was revoked")
        return Verification(record)


def _key_id(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id


def ensure_dev_key(store: KeyStore, key_file: Path) -> str:
    """The local admin key of ``insight serve --dev``: reused from ``key_file`` while valid, else created there."""
    if key_file.is_file():
        existing = key_file.read_text().strip()
        if store.verify(existing).record is not None:
            return existing
    created = store.create("dev (insight serve --dev)", ["admin"])
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(created.key + "\n")
    return created.key
