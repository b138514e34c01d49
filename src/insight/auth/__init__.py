"""API keys: stored hashed, scoped to collections (read/write) and to services (analyze, predict, eval, admin)."""

from insight.auth.guard import Authenticator
from insight.auth.scopes import Principal, parse_scopes
from insight.auth.store import CreatedKey, KeyRecord, KeyStore

__all__ = ["Authenticator", "CreatedKey", "KeyRecord", "KeyStore", "Principal", "parse_scopes"]
