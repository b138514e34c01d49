"""The model-output cache: keys change with any part of the identity; entries survive a new process."""

from __future__ import annotations

from pathlib import Path

from insight.evaluation.cache import OutputCache, cache_key


def test_the_key_covers_prompt_model_input_and_params() -> None:
    base = {"prompt_sha256": "a" * 64, "model": "local/qwen", "input": [["human", "hi"]], "params": {"t": 0}}
    key = cache_key(**base)
    assert key == cache_key(**dict(reversed(list(base.items()))))  # order of parts does not matter
    for part, other in (
        ("prompt_sha256", "b" * 64),
        ("model", "openai/gpt"),
        ("input", [["human", "hi!"]]),
        ("params", {"t": 0.7}),
    ):
        assert cache_key(**(base | {part: other})) != key


def test_entries_are_read_back_and_counted(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path / "cache")
    assert cache.get("k" * 64) is None
    cache.put("k" * 64, {"text": "answer [1]", "latency_ms": 812.5})
    again = OutputCache(tmp_path / "cache")
    assert again.get("k" * 64) == {"text": "answer [1]", "latency_ms": 812.5}
    assert (cache.hits, cache.misses, again.hits) == (0, 1, 1)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_a_disabled_cache_stores_nothing(tmp_path: Path) -> None:
    cache = OutputCache(None)
    cache.put("k" * 64, {"x": 1})
    assert cache.get("k" * 64) is None and cache.misses == 1
