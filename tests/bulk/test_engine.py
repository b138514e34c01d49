"""The engine option: parsed strictly, ``--address`` over the setting, Ray never imported by the local path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from insight.bulk.cli import engine_settings
from insight.bulk.engine import parse_engine
from insight.config import RaySettings
from insight.errors import ConfigError
from tests.conftest import make_settings


def test_engine_names_are_checked() -> None:
    assert parse_engine("local") == "local" and parse_engine("ray") == "ray"
    with pytest.raises(ConfigError, match="local, ray"):
        parse_engine("Ray")


def test_address_option_overrides_the_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ray=RaySettings(address="10.0.0.1:6379"))
    joined, engine = engine_settings(settings, "ray", "10.0.0.2:6379")
    assert engine == "ray" and joined.ray.address == "10.0.0.2:6379"
    kept, _ = engine_settings(settings, "local", None)
    assert kept.ray.address == "10.0.0.1:6379"


def test_the_command_line_and_the_app_do_not_import_ray() -> None:
    code = "import sys, insight.cli, insight.api.app; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"
