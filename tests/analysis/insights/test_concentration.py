"""concentration: the top 20 % of entities' share of a non-negative measure, against an even spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insight.analysis.insights import InsightEngine, concentration
from insight.analysis.insights.base import Candidate, TableView, column_roles
from tests.analysis.insights.category_nulls import NULL_TABLES, engine_null_rate, null_rates


def _view(frame: pd.DataFrame) -> TableView:
    return TableView(frame, column_roles(frame))


def _customers(weights: np.ndarray | None, rows: int = 2000, sigma: float = 1.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"c{i:03d}" for i in range(200)]
    return pd.DataFrame(
        {"customer": rng.choice(names, size=rows, p=weights), "revenue": rng.lognormal(3.0, sigma, size=rows)}
    )


def _found(frame: pd.DataFrame) -> Candidate:
    return next(c for c in concentration.find(_view(frame)) if c.columns == ["customer", "revenue"])


def _zipf() -> np.ndarray:
    weights = 1.0 / np.arange(1, 201) ** 1.2
    return weights / weights.sum()


def test_planted_concentration_is_found_with_exact_figures() -> None:
    frame = _customers(_zipf())
    found = _found(frame)
    totals = frame.groupby("customer")["revenue"].sum().sort_values(ascending=False)
    top = round(0.2 * len(totals))
    assert found.reportable
    share = next(v for v in found.values if v.key == "share")
    assert share.value == pytest.approx(100.0 * totals.head(top).sum() / totals.sum(), rel=1e-12)
    assert next(v for v in found.values if v.key == "top").value == top
    assert next(v for v in found.values if v.key == "entities").value == len(totals)
    assert f"({top} of {len(totals)}) hold {share.text} of total revenue" in found.statement
    assert f"the largest is {totals.index[0]}" in found.statement
    for value in found.values:
        assert value.text in found.statement
    assert found.test.p_value is not None and found.test.p_value < 1e-6
    assert found.chart is not None and found.chart["data"]["values"][-1]["total_pct"] == pytest.approx(100.0)
    # the expression reproduces the share
    scope: dict[str, object] = {"df": frame}
    head, last = found.expression.rsplit("; ", 1)
    exec(head, scope)  # noqa: S102 - the engine's own expression
    assert eval(last, scope) == pytest.approx(share.value / 100.0)  # noqa: S307


def test_skewed_iid_values_on_evenly_used_entities_are_not_concentration() -> None:
    # a heavy lognormal measure, ten rows per customer on average: the top 20 % hold far more than 20 %
    # by chance alone, which the null (rows assigned at random) reproduces
    for seed in range(5):
        found = _found(_customers(None, sigma=2.0, seed=seed))
        assert not found.reportable
        assert found.test.p_value is None or found.test.p_value > 0.05


def test_one_row_per_entity_is_not_concentration() -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"name": [f"n{i}" for i in range(300)], "amount": rng.lognormal(0, 1.5, 300)})
    found = next(c for c in concentration.find(_view(frame)))
    assert not found.reportable


def test_the_null_draws_are_seeded() -> None:
    values = np.random.default_rng(1).lognormal(size=500)
    first = concentration.null_shares(values, 50, 10, 20)
    assert np.array_equal(first, concentration.null_shares(values, 50, 10, 20))
    assert 0.2 < first.mean() < 1.0


def test_edge_cases_never_raise() -> None:
    rng = np.random.default_rng(2)
    frame = _customers(_zipf(), rows=600)
    frame["loss"] = rng.normal(size=600)  # negative values: not a share
    frame.loc[::6, "revenue"] = np.nan
    frame.loc[::11, "customer"] = None
    found = concentration.find(_view(frame))
    assert [c.columns for c in found] == [["customer", "revenue"]]
    few = pd.DataFrame({"shop": rng.choice(list("abcde"), size=100), "sales": rng.exponential(size=100)})
    assert concentration.find(_view(few)) == []
    assert concentration.top_share(np.zeros(5), 1) == 0.0


def test_null_p_values_are_valid_and_the_engine_reports_nothing() -> None:
    per_test, per_table, tested = null_rates(concentration.find)
    assert tested >= NULL_TABLES * 2
    assert per_test <= 0.06
    assert per_table <= 0.06
    assert engine_null_rate("concentration") <= 0.05


def test_engine_reports_it() -> None:
    assert "concentration:customer~revenue" in [i.id for i in InsightEngine().run(_customers(_zipf())).insights]
