"""API keys: the hashed store, scopes, the CLI, dev mode, and what the HTTP API answers without a good key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from typer.testing import CliRunner

from insight.api.app import create_app
from insight.auth import Authenticator, KeyStore, Principal, parse_scopes
from insight.auth.store import ensure_dev_key, key_digest
from insight.cli import app as cli_app
from insight.config import AuthSettings
from insight.errors import Forbidden, Unauthenticated
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "auth" / "keys.db")


def test_only_a_hash_of_the_key_is_stored(store: KeyStore) -> None:
    created = store.create("reports team", ["read:reports", "write:reports"])
    assert created.key.startswith(f"ins_{created.record.id}_") and len(created.key) > 50
    raw = store.path.read_bytes()
    secret = created.key.removeprefix(f"ins_{created.record.id}_")
    assert secret.encode() not in raw and created.key.encode() not in raw
    with sqlite3.connect(store.path) as conn:
        (stored,) = conn.execute("SELECT key_sha256 FROM api_keys").fetchone()
    assert stored == key_digest(created.key)
    assert store.path.stat().st_mode & 0o077 == 0


def test_verify_accepts_the_key_and_refuses_anything_else(store: KeyStore) -> None:
    created = store.create("a", ["read:reports"])
    record = store.verify(created.key).record
    assert record is not None and record.scopes == ("read:reports",)
    forged = created.key[:-4] + ("AAAA" if not created.key.endswith("AAAA") else "BBBB")
    assert store.verify(forged).record is None and store.verify(forged).problem == "the API key is not valid"
    assert store.verify("ins_000000000000_nothing").record is None
    assert store.verify("not-a-key").problem == "the API key is malformed"
    store.revoke(created.record.id)
    revoked = store.verify(created.key)
    assert revoked.record is None and revoked.problem == f"the API key {created.record.id} was revoked"


def test_scopes_are_checked(store: KeyStore) -> None:
    assert parse_scopes(["admin", " read:a ", "read:a", "write:*"]) == ("admin", "read:a", "write:*")
    for bad in (["root"], ["read:"], ["read:../x"], ["delete:a"], []):
        with pytest.raises(ValueError, match="scope"):
            parse_scopes(bad)
    with pytest.raises(ValueError, match="notation"):
        store.create("x", ["admin"], rate_limit="lots")


def test_principal_rights() -> None:
    writer = Principal("k1", "w", frozenset({"write:alpha", "analyze"}))
    reader = Principal("k2", "r", frozenset({"read:*"}))
    admin = Principal("k3", "a", frozenset({"admin"}))
    assert writer.can("read", "alpha") and writer.can("write", "alpha")
    assert not writer.can("read", "beta") and not writer.can("write", "beta")
    assert reader.can("read", "beta") and not reader.can("write", "beta")
    assert admin.can("write", "anything") and admin.has("eval")
    assert writer.has("analyze") and not writer.has("predict") and not reader.has("eval")
    with pytest.raises(Forbidden, match="no write access to collection 'beta'"):
        writer.require_collection("write", "beta")
    with pytest.raises(Forbidden, match="lacks the 'eval' scope"):
        reader.require("eval")


def test_keys_cli_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_AUTH__KEYS_PATH", str(tmp_path / "keys.db"))
    created = runner.invoke(cli_app, ["keys", "create", "--name", "bi team", "--scope", "read:sales"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ins_")
    key_id = key[4:16]
    listed = runner.invoke(cli_app, ["keys", "list"])
    assert key_id in listed.stdout and "read:sales" in listed.stdout and key not in listed.stdout
    assert runner.invoke(cli_app, ["keys", "revoke", key_id]).exit_code == 0
    assert key_id not in runner.invoke(cli_app, ["keys", "list"]).stdout
    assert key_id in runner.invoke(cli_app, ["keys", "list", "--all"]).stdout
    assert KeyStore(tmp_path / "keys.db").verify(key).record is None
    bad = runner.invoke(cli_app, ["keys", "create", "--name", "x", "--scope", "superuser"])
    assert bad.exit_code == 2 and "unknown scope 'superuser'" in bad.output
    missing = runner.invoke(cli_app, ["keys", "revoke", "ffffffffffff"])
    assert missing.exit_code == 1 and "no API key with id" in missing.output


def test_serve_dev_prints_one_local_admin_key_and_reuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_AUTH__KEYS_PATH", str(tmp_path / "keys.db"))
    monkeypatch.setenv("INSIGHT_AUTH__DEV_KEY_PATH", str(tmp_path / "dev-key"))
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    monkeypatch.setattr("insight.observability.logging.configure_logging", lambda level, fmt: None)
    first = runner.invoke(cli_app, ["serve", "--dev"])
    assert first.exit_code == 0, first.output
    key = (tmp_path / "dev-key").read_text().strip()
    assert key in first.stdout and "Authorization: Bearer" in first.stdout
    assert runner.invoke(cli_app, ["serve", "--dev"]).stdout.count(key) == 2
    record = KeyStore(tmp_path / "keys.db").verify(key).record
    assert record is not None and record.scopes == ("admin",)
    # A revoked dev key is replaced, not reused.
    KeyStore(tmp_path / "keys.db").revoke(record.id)
    assert ensure_dev_key(KeyStore(tmp_path / "keys.db"), tmp_path / "dev-key") != key
    assert "dev mode" not in runner.invoke(cli_app, ["serve"]).stdout


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, KeyStore]]:
    settings = make_settings(tmp_path, auth=auth_settings(tmp_path, rate_limit="5/minute"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        yield client, KeyStore(settings.auth.keys_path)


def _unauthenticated(response: Any, words: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "unauthenticated" and words in body["message"], body
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_requests_without_a_good_key_get_401(api: tuple[TestClient, KeyStore]) -> None:
    client, store = api
    collections = "/api/v1/collections"
    _unauthenticated(client.get(collections), "an API key is required")
    _unauthenticated(client.get(collections, headers={"Authorization": "Basic dXNlcjpwdw=="}), "required")
    _unauthenticated(client.get(collections, headers={"Authorization": "Bearer nonsense"}), "malformed")
    _unauthenticated(client.get(collections, headers={"X-API-Key": "ins_123456789abc_guess"}), "not valid")
    _unauthenticated(client.post("/api/v1/search", json={"collection": "a", "query": "q"}), "required")
    _unauthenticated(client.post("/api/v1/predict", json={"features": {}}), "required")
    created = store.create("short-lived", ["admin"])
    for headers in ({"Authorization": f"bearer {created.key}"}, {"X-API-Key": created.key}):
        assert client.get(collections, headers=headers).status_code == 200
    store.revoke(created.record.id)
    _unauthenticated(client.get(collections, headers={"X-API-Key": created.key}), "revoked")


def test_health_ready_and_the_schema_stay_public(api: tuple[TestClient, KeyStore]) -> None:
    client, _ = api
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code in {200, 503}  # no model trained here; the point is: not 401
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    schemes = schema.json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer" and schemes["APIKeyHeader"]["name"] == "X-API-Key"


def test_rate_limit_per_key_answers_429_with_retry_after(api: tuple[TestClient, KeyStore]) -> None:
    client, store = api
    busy = {"X-API-Key": store.create("busy", ["read:*"]).key}
    other = {"X-API-Key": store.create("other", ["read:*"]).key}
    statuses = [client.get("/api/v1/collections", headers=busy).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = client.get("/api/v1/collections", headers=busy)
    assert limited.json()["code"] == "rate_limited" and "5 per 1 minute" in limited.json()["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/api/v1/collections", headers=other).status_code == 200
    own_limit = {"X-API-Key": store.create("batch job", ["read:*"], rate_limit="2/minute").key}
    assert [client.get("/api/v1/collections", headers=own_limit).status_code for _ in range(3)] == [200, 200, 429]


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "client": ("127.0.0.1", 1)})


def test_a_verified_key_is_trusted_for_cache_ttl_then_rechecked(store: KeyStore) -> None:
    now = [100.0]
    authenticator = Authenticator(
        AuthSettings(keys_path=store.path, cache_ttl_s=2.0, rate_limit="1000/minute"), store, clock=lambda: now[0]
    )
    created = store.create("cached", ["admin"])
    request = _request({"X-API-Key": created.key})

    async def check() -> Principal:
        return await authenticator.authenticate(request)

    assert anyio.run(check).key_id == created.record.id
    store.revoke(created.record.id)
    now[0] += 1.0
    assert anyio.run(check).key_id == created.record.id
    now[0] += 1.5
    with pytest.raises(Unauthenticated, match="revoked"):
        anyio.run(check)


def test_with_auth_disabled_every_caller_is_admin_but_still_rate_limited(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth=auth_settings(tmp_path, enabled=False, rate_limit="3/minute"))
    with TestClient(create_app(settings, build=build_with_fakes)) as client:
        statuses = [client.get("/api/v1/collections").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_dev_mode_setting_gives_the_app_its_local_admin_key(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path, dev_mode=True)
    authenticator = Authenticator(settings)
    assert authenticator.dev_key is not None
    assert authenticator.dev_key == settings.dev_key_path.read_text().strip()
    assert Authenticator(settings).dev_key == authenticator.dev_key  # reused across restarts
    assert Authenticator(auth_settings(tmp_path / "other")).dev_key is None


def test_the_rate_limit_storage_cleans_up_at_most_once_per_interval() -> None:
    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    from insight.auth.guard import _ThrottledExpiryStorage

    now = [100.0]
    storage = _ThrottledExpiryStorage(interval_s=1.0, clock=lambda: now[0])
    limiter = MovingWindowRateLimiter(storage)
    limit = parse("3/minute")
    timers = [storage.timer]  # the constructor's
    decisions = []
    for _ in range(5):
        timers[-1].join(1.0)  # each clean-up done before the next hit: the base class would start another
        decisions.append(limiter.hit(limit, "client"))
        if storage.timer is not timers[-1]:
            timers.append(storage.timer)
    assert decisions == [True, True, True, False, False]  # the limit itself is unchanged
    assert len(timers) == 2  # one clean-up scheduled in the first second, not one per hit
    now[0] += 1.5
    limiter.hit(limit, "client")
    assert storage.timer is not timers[-1]  # the interval passed: the next clean-up
    storage.timer.join(1.0)
