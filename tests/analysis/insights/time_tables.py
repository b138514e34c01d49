"""Seeded tables for the time-based insight types: noise, and one planted shape in measure ``a``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from insight.analysis.insights.base import Candidate, TableView, column_roles


def dated(seed: int, rows: int = 400, days: int = 3 * 365, start: str = "2022-01-01") -> pd.DataFrame:
    """Noise: two normal measures and a region, on dates drawn uniformly over ``days``."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, rows), unit="D")
    return pd.DataFrame(
        {
            "date": dates,
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "region": rng.choice(["north", "south", "east"], size=rows),
        }
    )


def planted(seed: int, shape: str, size: float = 1.0, rows: int = 400) -> pd.DataFrame:
    frame = dated(seed, rows)
    dates = frame["date"]
    share = ((dates - dates.min()).dt.days / (dates.max() - dates.min()).days).to_numpy()
    if shape == "trend":
        frame["a"] += size * share
    elif shape == "step":
        frame["a"] += size * (share > 0.6)
    elif shape == "season":
        frame["a"] += size * np.sin(2 * np.pi * dates.dt.month.to_numpy() / 12)
    elif shape == "weekday":
        frame["a"] += size * (dates.dt.day_of_week.to_numpy() >= 5)
    return frame


def view(frame: pd.DataFrame) -> TableView:
    return TableView(frame, column_roles(frame))


def significant(candidates: list[Candidate], measure: str = "a", alpha: float = 0.05) -> list[Candidate]:
    """The reportable candidates on ``measure`` with a raw p-value under alpha."""
    return [
        c
        for c in candidates
        if c.columns[-1] == measure and c.reportable and c.test.p_value is not None and c.test.p_value < alpha
    ]
