"""Who is calling, and may they call again now: API key → ``Principal``, then the per-key rate limit."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

import anyio.to_thread
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from insight.auth.scopes import Principal
from insight.auth.store import KeyStore, Verification, ensure_dev_key
from insight.config import AuthSettings
from insight.errors import RateLimitExceeded, Unauthenticated

ANONYMOUS_ADMIN = Principal(key_id="anonymous", name="auth disabled", scopes=frozenset({"admin"}))
_MAX_CACHED_KEYS = 10_000


def presented_key(connection: HTTPConnection) -> str | None:
    """The key from ``Authorization: Bearer <key>``, else from ``X-API-Key``."""
    authorization = connection.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    key = connection.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class _ThrottledExpiryStorage(MemoryStorage):
    """``MemoryStorage`` whose clean-up of expired counters runs at most once per ``interval_s``.

    The base class starts a ``threading.Timer`` (a new thread) for a 10 ms clean-up whenever none is
    pending: at a hundred requests a second that is a thread per request or two. The clean-up only frees
    memory (every limit check compares timestamps itself), so doing it once a second changes no decision.
    """

    def __init__(self, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._next_expiry = 0.0
        self._schedule_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides the base's private hook
        now = self._clock()
        with self._schedule_lock:
            if now < self._next_expiry:
                return
            self._next_expiry = now + self._interval_s
        super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class Authenticator:
    """Verifies keys against the store (a verified key is trusted for ``cache_ttl_s``) and applies rate limits.

    The rate limit counters live in this process (``limits``' memory storage): with N replicas
    a key gets up to N times its limit, unless the load balancer pins keys to replicas.
    """

    def __init__(
        self,
        settings: AuthSettings,
        store: KeyStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store or KeyStore(settings.keys_path)
        self._clock = clock
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._limiter = MovingWindowRateLimiter(_ThrottledExpiryStorage())
        self._default_limits = parse_many(settings.rate_limit)
        self._limits_by_text: dict[str, list[RateLimitItem]] = {}
        self.dev_key: str | None = None
        """In dev mode, the local admin key (the workbench pre-fills it); never set otherwise."""
        if settings.enabled and settings.dev_mode:
            self.dev_key = ensure_dev_key(self.store, settings.dev_key_path)

    async def authenticate(self, connection: HTTPConnection) -> Principal:
        """The caller (401 without a valid key), after counting this request against its rate limit (429)."""
        if not self.settings.enabled:
            client = connection.client.host if connection.client else "unknown"
            self._count(f"client:{client}", self._default_limits)
            return ANONYMOUS_ADMIN
        key = presented_key(connection)
        if key is None:
            raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        principal = await self._principal(key)
        limits = self._limits_for(principal)
        self._count(f"key:{principal.key_id}", limits)
        return principal

    async def _principal(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        cached = self._verified.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        verification: Verification = await anyio.to_thread.run_sync(self.store.verify, key)
        if verification.record is None:
            self._verified.pop(digest, None)
            raise Unauthenticated(verification.problem or "the API key is not valid")
        principal = verification.record.principal()
        if self.settings.cache_ttl_s > 0:
            if len(self._verified) >= _MAX_CACHED_KEYS:
                self._verified.clear()
            self._verified[digest] = (now + self.settings.cache_ttl_s, principal)
        return principal

    def _limits_for(self, principal: Principal) -> list[RateLimitItem]:
        if principal.rate_limit is None:
            return self._default_limits
        items = self._limits_by_text.get(principal.rate_limit)
        if items is None:
            items = self._limits_by_text[principal.rate_limit] = parse_many(principal.rate_limit)
        return items

    def _count(self, identity: str, limits: list[RateLimitItem]) -> None:
        for item in limits:
            if not self._limiter.hit(item, identity):
                reset_at = self._limiter.get_window_stats(item, identity).reset_time
                retry_after = max(1.0, reset_at - time.time())
                raise RateLimitExceeded(
                    f"rate limit of {item} exceeded for this caller; retry in {retry_after:.0f} s",
                    retry_after_s=retry_after,
                )
