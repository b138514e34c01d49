"""A live service on loopback (real app, fake embedder and chat model) and headless Debian Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from insight.api.app import create_app
from insight.api.deps import Services
from insight.config import EvaluationSettings, LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from tests.api.conftest import build_with_fakes
from tests.conftest import REPO_ROOT, auth_settings, make_settings
from tests.evaluation.conftest import write_suite
from tests.llm.fakes import SchemaAwareFake

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's background services try to reach Google; on a closed network that only produces noise.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

UNUSABLE_PLAN = {"lead": [9], "summary": "s", "key_points": [{"insight": 9, "wording": "w"}], "recommendations": []}
ANSWER = "Refunds are paid within 30 days to the original card [1]."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings, build: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings, build=build), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    def build(settings: Settings) -> Services:
        model = SchemaAwareFake(
            messages=iter(()),
            # A narration plan about a finding that does not exist: the template narrates (model_narration 0).
            tool_args={"NarrationPlan": UNUSABLE_PLAN, "PassageChoice": {"passages": [1]}},
            text=ANSWER,
        )
        services = build_with_fakes(
            settings, llm=LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        )
        return services

    root = tmp_path_factory.mktemp("workbench")
    write_suite(
        root / "suites",
        name="analysis-two-versions",
        description="the narration prompt, v1 against v2, on two bundled tables",
        kind="analysis",
        prompt={"name": "narration", "versions": [1, 2]},
        dataset={"path": str(REPO_ROOT / "eval" / "datasets" / "analysis_sklearn.jsonl")},
        metrics=["schema_valid", "model_narration"],
        targets=[{"metric": "schema_valid", "value": 0.95}, {"metric": "model_narration", "value": 0.8}],
        limit=2,
    )
    # Auth on, in dev mode: the pages come with the local admin key pre-filled, as under `make run`.
    settings = make_settings(
        root,
        model_dir=trained_model_dir,
        auth=auth_settings(root, dev_mode=True),
        evaluation=EvaluationSettings(suites_dir=root / "suites", cache_dir=root / "cache", bootstrap_samples=200),
    )
    with LiveServer(settings, build) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian chromium (.ci/install-browser)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
