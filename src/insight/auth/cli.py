"""``insight keys create/list/revoke``: API keys, managed where the server's key store lives."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from insight.auth.store import KeyStore
from insight.console import console, err_console, fail, load_settings
from insight.errors import InsightError

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _store() -> KeyStore:
    return KeyStore(load_settings().auth.keys_path)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="who or what uses the key")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="repeatable: admin, analyze, predict, eval, read:<collection>, write:<collection> ('*' = all)",
        ),
    ],
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="this key's limit, e.g. 100/minute (default: settings)")
    ] = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    try:
        created = _store().create(name, scope, rate_limit)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except InsightError as exc:
        raise fail(exc) from exc
    record = created.record
    err_console.print(f"created key {record.id} ({record.name}) with scopes {', '.join(record.scopes)}")
    err_console.print("store it now; it cannot be shown again:")
    print(created.key)


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys (ids, names, scopes; never the keys themselves)."""
    try:
        records = _store().list(include_revoked=include_revoked)
    except InsightError as exc:
        raise fail(exc) from exc
    table = Table()
    for column in ("id", "name", "scopes", "rate limit", "created", "revoked"):
        table.add_column(column, no_wrap=column in {"id", "created", "revoked"})
    for r in records:
        table.add_row(
            r.id,
            r.name,
            " ".join(r.scopes),
            r.rate_limit or "default",
            r.created_at.strftime("%Y-%m-%d"),
            r.revoked_at.strftime("%Y-%m-%d") if r.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id, as `insight keys list` shows it")]) -> None:
    """Revoke a key; servers refuse it within auth.cache_ttl_s seconds (default 2)."""
    try:
        record = _store().revoke(key_id)
    except InsightError as exc:
        raise fail(exc) from exc
    console.print(f"revoked key {record.id} ({record.name})")
