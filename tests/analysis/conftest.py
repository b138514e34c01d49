"""Analysis fixtures: an offline tiktoken encoding, the shipped prompts, a small known table."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import tiktoken

from insight.prompts import PromptRegistry, default_prompt_root
from insight.tokens import count_tokens, get_encoding


@pytest.fixture(scope="session")
def encoding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tiktoken.Encoding]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.mktemp("tiktoken")))
        yield get_encoding("cl100k_base")


@pytest.fixture
def tokens(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    return lambda text: count_tokens(text, encoding)


@pytest.fixture(scope="session")
def prompts() -> PromptRegistry:
    return PromptRegistry(default_prompt_root())


SALES_RECORDS = [
    {"month": "2024-01-01", "sales": 100, "cost": 50.0, "region": "north", "units": 10},
    {"month": "2024-02-01", "sales": 110, "cost": 52.0, "region": "south", "units": 11},
    {"month": "2024-03-01", "sales": 120, "cost": 55.0, "region": "north", "units": 12},
    {"month": "2024-04-01", "sales": 130, "cost": None, "region": "east", "units": 13},
    {"month": "2024-05-01", "sales": 140, "cost": 60.0, "region": "north", "units": 14},
    {"month": "2024-06-01", "sales": 150, "cost": 200.0, "region": "south", "units": 15},
]


@pytest.fixture
def sales() -> list[dict[str, object]]:
    return [dict(row) for row in SALES_RECORDS]


@pytest.fixture
def sales_frame(sales: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(sales)
