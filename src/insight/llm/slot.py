"""The service's LLM client, built on first use: start-up stays fast and a missing model is a 5xx, not a crash."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from insight.config import LLMSettings
from insight.errors import InsightError, LLMNotConfigured
from insight.llm.client import LLMClient
from insight.llm.factory import build_llm_client
from insight.prompts import PromptRegistry


@dataclass
class LLMSlot:
    settings: LLMSettings
    client: LLMClient | None = None
    problem: str | None = None
    on_client: Callable[[LLMClient], None] | None = None
    """Called with each client the slot builds (the app's metrics hook in here)."""
    prompts: PromptRegistry | None = None
    """Where the client's repair prompt comes from (``build_llm_client``); None: the shipped one."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def configured(self) -> bool:
        return self.settings.provider != "none"

    def require(self) -> LLMClient:
        """The client, building it (assembling and loading a local model: seconds) the first time.

        Call it from a worker thread. A failed build is retried on the next call, so a server that
        comes back (or a model that gets installed) is picked up.
        """
        if self.client is not None:
            return self.client
        with self._lock:
            if self.client is None:
                try:
                    client = build_llm_client(self.settings, prompts=self.prompts)
                    if self.on_client is not None:
                        self.on_client(client)
                    self.client = client
                    self.problem = None
                except LLMNotConfigured:
                    raise
                except InsightError as exc:
                    self.problem = exc.message
                    raise
        return self.client
