"""exceptions: a finding that holds in every sibling subspace but one becomes one exception finding."""

from __future__ import annotations

import numpy as np
import pandas as pd

from insight.analysis.insights import InsightEngine, exceptions
from insight.analysis.insights.base import Candidate, num
from insight.analysis.insights.model import InsightTest, Subspace


def _sibling(
    value: str,
    direction: int,
    p: float,
    *,
    kind: str = "trend",
    columns: tuple[str, ...] = ("date", "revenue"),
    dimension: str = "region",
) -> Candidate:
    return Candidate(
        type=kind,  # type: ignore[arg-type]
        columns=list(columns),
        statement=f"{value} {direction}",
        values=[num("x", 1, "x")],
        test=InsightTest(name="mann-kendall", p_value=p / 10, p_adjusted=p, effect_size=0.4 * direction),
        strength=0.4,
        reportable=True,
        expression=f"expr_{value}",
        direction=direction,
        coverage=0.25,
        subspace=Subspace(column=dimension, value=value),
    )


def test_one_sibling_going_the_other_way_becomes_one_exception() -> None:
    siblings = [_sibling("AMER", 1, 0.01), _sibling("APAC", -1, 0.02), _sibling("EMEA", 1, 0.03)]
    siblings.append(_sibling("LATAM", 1, 0.002))
    unrelated = _sibling("x", 1, 0.01, kind="correlation", columns=("a", "b"))
    out = exceptions.derive([*siblings, unrelated], [*siblings, unrelated])
    assert out[0] is unrelated
    assert len(out) == 2
    found = out[1]
    assert found.type == "exception"
    assert found.columns == ["date", "revenue", "region"]
    assert found.statement == "revenue rises in every region except APAC (3 of 4 region values), where it falls."
    assert found.test.p_adjusted == 0.03  # the largest of the holders'
    assert found.test.p_value == 0.003
    assert found.direction == 1
    assert found.coverage == 0.75
    for value in found.values:
        assert value.text in found.statement
    assert "expr_APAC" in found.expression and "expr_LATAM" in found.expression
    assert found.chart is not None
    assert {r["region"]: r["signed_strength"] for r in found.chart["data"]["values"]}["APAC"] == -0.4


def test_one_sibling_where_it_does_not_hold() -> None:
    holders = [_sibling(v, -1, 0.01, kind="correlation", columns=("price", "demand")) for v in ("a", "b", "c")]
    weak = _sibling("d", 1, 0.6, kind="correlation", columns=("price", "demand"))
    out = exceptions.derive(holders, [*holders, weak])
    assert len(out) == 1
    assert out[0].statement == (
        "price and demand are negatively correlated in every region except d (3 of 4 region values), "
        "where they are not clearly correlated."
    )


def test_nothing_changes_without_exactly_one_exception() -> None:
    everywhere = [_sibling(v, 1, 0.01) for v in ("a", "b", "c")]
    assert exceptions.derive(everywhere, everywhere) == everywhere
    two_fail = [_sibling(v, 1, 0.01) for v in ("a", "b")]
    tested = [*two_fail, _sibling("c", 1, 0.5), _sibling("d", 1, 0.5)]
    assert exceptions.derive(two_fail, tested) == two_fail
    pair = [_sibling("a", 1, 0.01)]
    assert exceptions.derive(pair, [*pair, _sibling("b", 1, 0.5)]) == pair  # two siblings are too few
    # the sibling that misses significance with its estimate the same way: a lack of power, no exception
    holders = [_sibling(v, 1, 0.01) for v in ("a", "b", "c")]
    assert exceptions.derive(holders, [*holders, _sibling("d", 1, 0.3)]) == holders


def test_findings_without_a_sign_need_a_clearly_smaller_effect_on_comparable_rows() -> None:
    group = [_sibling(v, 0, 0.01, kind="group_difference", columns=("shop", "sales")) for v in ("a", "b", "c")]
    odd = _sibling("d", 0, 0.4, kind="group_difference", columns=("shop", "sales"))
    assert exceptions.derive(group, [*group, odd]) == group  # as strong, just not significant
    odd.strength = 0.1
    out = exceptions.derive(group, [*group, odd])
    assert out[0].statement.startswith("sales differs across shop groups in every region except d")
    odd.coverage = 0.05  # far fewer rows: not significant for want of rows
    assert exceptions.derive(group, [*group, odd]) == group


def test_engine_turns_sibling_correlations_into_an_exception() -> None:
    rng = np.random.default_rng(0)
    parts = []
    for region, sign in (("north", 1), ("south", 1), ("east", 1), ("west", -1)):
        x = rng.normal(size=150)
        parts.append(pd.DataFrame({"region": region, "x": x, "y": sign * 2 * x + rng.normal(scale=0.5, size=150)}))
    frame = pd.concat(parts, ignore_index=True)
    report = InsightEngine().run(frame)
    found = [i for i in report.insights if i.type == "exception"]
    assert len(found) == 1
    assert found[0].statement == (
        "x and y are positively correlated in every region except west (3 of 4 region values), "
        "where they are negatively correlated."
    )
    assert found[0].test.p_adjusted is not None and found[0].test.p_adjusted <= 0.05
    assert not [i for i in report.insights if i.type == "correlation" and i.subspace is not None]
