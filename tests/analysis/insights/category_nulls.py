"""Seeded null tables for the category insight types: iid measures (normal, and a positive lognormal one for
the share types), uniform categories, customers drawn uniformly, no structure at all."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

from insight.analysis.insights.base import Candidate, TableView, column_roles

NULL_TABLES = 150


def null_table(seed: int, rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(10, 2, size=rows),
            "amount": rng.lognormal(3.0, 1.0, size=rows),
            "region": rng.choice(["north", "south", "east"], size=rows),
            "store": rng.choice([f"s{i:02d}" for i in range(12)], size=rows),
            "channel": rng.choice(["web", "shop", "phone", "mail"], size=rows),
            "customer": rng.choice([f"c{i:03d}" for i in range(60)], size=rows),
        }
    )


def null_rates(find: Callable[[TableView], list[Candidate]], tables: int = NULL_TABLES) -> tuple[float, float, int]:
    """(share of candidates with raw p < 0.05, share of tables with a reportable raw p < 0.05, candidates)."""
    small = 0
    total = 0
    tables_hit = 0
    for seed in range(tables):
        frame = null_table(seed)
        found = find(TableView(frame, column_roles(frame)))
        ps = [c.test.p_value for c in found if c.test.p_value is not None]
        total += len(ps)
        small += sum(1 for p in ps if p < 0.05)
        tables_hit += any(c.reportable and (c.test.p_value or 1.0) < 0.05 for c in found)
    return small / max(1, total), tables_hit / tables, total


@functools.cache
def engine_null_types(tables: int = 100) -> tuple[frozenset[str], ...]:
    """The insight types the default engine reports on each of ``tables`` null tables (computed once per
    test session, shared by the category types' tests)."""
    from insight.analysis.insights import InsightEngine

    engine = InsightEngine()
    return tuple(frozenset(i.type for i in engine.run(null_table(seed)).insights) for seed in range(tables))


def engine_null_rate(insight_type: str) -> float:
    reports = engine_null_types()
    return sum(insight_type in types for types in reports) / len(reports)
