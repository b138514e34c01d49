"""What every command line shares: its consoles, settings loading, and how a domain error ends a command.

Low layer: ``insight``, ``insight keys`` and ``insight eval`` import it; it imports no CLI module.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from insight.config import Settings
from insight.errors import InsightError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_ERROR = 1
EXIT_SETTINGS = 2


def load_settings() -> Settings:
    """Settings from the environment; invalid ones are listed by variable name and exit with code 2."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  INSIGHT_{'__'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()]
        err_console.print("[red]invalid settings:[/red]\n" + "\n".join(lines))
        raise typer.Exit(EXIT_SETTINGS) from exc


def fail(exc: InsightError, code: int = EXIT_ERROR) -> typer.Exit:
    """Print the error's message (never a trace) and return the ``typer.Exit`` to raise."""
    err_console.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(code)
