"""The insight cache: a repeat of the same table is served from memory, anything different is computed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from insight.analysis import Computed, parse_records
from insight.analysis.cache import Prepared, ProfileCache, profile_key
from insight.analysis.insights import InsightEngine


def counting(sales: list[dict[str, object]], tokens: Callable[[str], int]) -> tuple[Callable[[], Prepared], list[int]]:
    calls: list[int] = []

    def compute() -> Prepared:
        calls.append(1)
        parsed = parse_records(sales)
        return Computed(parsed, InsightEngine().run(parsed.frame), 0.0)

    return compute, calls


def test_a_repeat_is_a_hit_returning_the_same_profile(
    sales: list[dict[str, object]], tokens: Callable[[str], int]
) -> None:
    cache = ProfileCache(4)
    compute, calls = counting(sales, tokens)
    first, hit1 = cache.get_or_compute("k", compute)
    second, hit2 = cache.get_or_compute("k", compute)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert second is first and (cache.hits, cache.misses) == (1, 1)


def test_least_recently_used_entries_go_first(sales: list[dict[str, object]], tokens: Callable[[str], int]) -> None:
    cache = ProfileCache(2)
    compute, calls = counting(sales, tokens)
    for key in ("a", "b", "a", "c"):  # "a" used again, so "b" is the one evicted by "c"
        cache.get_or_compute(key, compute)
    assert len(cache) == 2 and len(calls) == 3
    assert cache.get_or_compute("a", compute)[1] is True
    assert cache.get_or_compute("b", compute)[1] is False


def test_zero_entries_turns_it_off(sales: list[dict[str, object]], tokens: Callable[[str], int]) -> None:
    cache = ProfileCache(0)
    compute, calls = counting(sales, tokens)
    cache.get_or_compute("k", compute)
    assert cache.get_or_compute("k", compute)[1] is False and len(calls) == 2 and len(cache) == 0


def test_errors_are_not_cached() -> None:
    cache = ProfileCache(4)

    def fail() -> Prepared:
        raise ValueError("bad table")

    for _ in range(2):
        with pytest.raises(ValueError, match="bad table"):
            cache.get_or_compute("k", fail)
    assert len(cache) == 0


def test_keys_separate_their_parts() -> None:
    assert profile_key(["ab", "c"]) != profile_key(["a", "bc"])
    assert profile_key(["csv", "x"]) == profile_key(["csv", b"x"])


def test_get_answers_only_what_is_cached(sales: list[dict[str, object]], tokens: Callable[[str], int]) -> None:
    cache = ProfileCache(4)
    compute, _calls = counting(sales, tokens)
    assert cache.get("k") is None and (cache.hits, cache.misses) == (0, 0)
    stored, _hit = cache.get_or_compute("k", compute)
    assert cache.get("k") is stored and cache.hits == 1
    assert ProfileCache(0).get("k") is None
