"""Exceptions across sibling subspaces: a finding that holds in every value of a dimension but one
("revenue rises in every region except APAC (3 of 4 region values), where it falls").

A deriver (runs after the FDR control, on the findings that passed; see ``Deriver`` in engine.py). For one
finding (same type and columns) tested in the subspaces of one dimension (its siblings, at least
MIN_SIBLINGS of them): when it passed with one direction in all siblings but one, and that one did not pass
or passed the other way, the sibling findings are replaced by one ``exception`` finding. A sibling where
it did not pass counts only when that is not merely a lack of power (``_clearly_different``): its estimate
goes the other way, or, for findings without a sign, its effect is at most half the weakest holder's on a
comparable number of rows. (A distractor dimension splits a table-wide trend into subspaces, one of which
misses significance by chance: that is no exception.)

No new test is run. The claim is the conjunction "holds in each of the holders", so its p-value is the
largest of the holders' (an intersection–union test: valid for the conjunction without any further
correction), and p_adjusted the largest of their adjusted ones; the exception's own test is quoted as it
was. Coverage is the holders' rows together, strength their mean strength.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from insight.analysis.insights.base import Candidate, bar_chart, label, num
from insight.analysis.insights.model import InsightTest

MIN_SIBLINGS = 3

_Group = tuple[tuple[str, tuple[str, ...], str], str]


def derive(passed: list[Candidate], all_candidates: list[Candidate]) -> list[Candidate]:
    tested: dict[_Group, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for candidate in all_candidates:
        if candidate.subspace is not None:
            tested[(candidate.key, candidate.subspace.column)][candidate.subspace.value].append(candidate)
    holding: dict[_Group, dict[str, Candidate]] = defaultdict(dict)
    for candidate in passed:
        if candidate.subspace is None:
            continue
        slot = holding[(candidate.key, candidate.subspace.column)]
        best = slot.get(candidate.subspace.value)
        if best is None or _weight(candidate) > _weight(best):
            slot[candidate.subspace.value] = candidate
    replaced: set[int] = set()
    found: list[Candidate] = []
    for group in sorted(holding, key=lambda g: (g[0][0], g[0][1], g[1])):
        siblings = tested.get(group, {})
        held = holding[group]
        if len(siblings) < MIN_SIBLINGS:
            continue
        direction, count = Counter(c.direction for c in held.values()).most_common(1)[0]
        if count != len(siblings) - 1:
            continue
        holders = {value: c for value, c in held.items() if c.direction == direction}
        odd = next(value for value in sorted(siblings) if value not in holders)
        if odd not in held and not _clearly_different(_best(siblings[odd]), list(holders.values()), direction):
            continue
        found.append(_exception(group[1], holders, odd, held.get(odd), siblings, direction))
        replaced.update(id(c) for c in passed if c.subspace is not None and (c.key, c.subspace.column) == group)
    return [c for c in passed if id(c) not in replaced] + found


def _clearly_different(odd: Candidate, holders: list[Candidate], direction: int) -> bool:
    """A sibling where the finding did not pass is an exception only when that is not just a lack of power:
    its estimate goes the other way (a signed finding), or (no sign) its effect is at most half the weakest
    holder's on at least half the rows of the smallest holder."""
    if direction != 0:
        return odd.direction == -direction
    weakest = min(c.strength for c in holders)
    smallest = min(c.coverage for c in holders)
    return odd.strength <= 0.5 * weakest and odd.coverage >= 0.5 * smallest


def _weight(candidate: Candidate) -> float:
    p = candidate.test.p_adjusted if candidate.test.p_adjusted is not None else 0.0
    return (1.0 - p) * candidate.strength


def _exception(
    dimension: str,
    holders: dict[str, Candidate],
    odd: str,
    odd_passed: Candidate | None,
    siblings: dict[str, list[Candidate]],
    direction: int,
) -> Candidate:
    first = next(iter(holders.values()))
    subject, reversed_, absent = _phrases(first, direction)
    tail = reversed_ if odd_passed is not None else absent
    values = [
        label("exception", odd, f"the {dimension} value where the finding does not hold"),
        num("holding", len(holders), f"{dimension} values where it holds"),
        num("siblings", len(siblings), f"{dimension} values tested"),
    ]
    statement = (
        f"{subject} in every {dimension} except {odd} ({values[1].text} of {values[2].text} {dimension} values), "
        f"where {tail}."
    )
    ordered = sorted(siblings)
    expression = "\n".join(
        f"# {dimension} = {json.dumps(value)}\n{_best(siblings[value]).expression}" for value in ordered
    )
    rows = [
        {dimension: value, "signed_strength": _best(siblings[value]).direction * _best(siblings[value]).strength}
        for value in ordered
    ]
    raw = [c.test.p_value for c in holders.values() if c.test.p_value is not None]
    adjusted = [c.test.p_adjusted for c in holders.values() if c.test.p_adjusted is not None]
    return Candidate(
        type="exception",
        columns=[*first.columns, dimension],
        statement=statement,
        values=values,
        test=InsightTest(
            name=f"intersection-union of {len(holders)} {first.type} tests",
            statistic=None,
            p_value=max(raw) if raw else None,
            p_adjusted=max(adjusted) if adjusted else None,
            effect_name=first.test.effect_name,
            effect_size=min(abs(c.test.effect_size or 0.0) for c in holders.values()),
        ),
        strength=sum(c.strength for c in holders.values()) / len(holders),
        reportable=True,
        expression=expression,
        chart=bar_chart(
            f"{first.type.replace('_', ' ')} by {dimension} (signed strength)",
            dimension,
            "signed_strength",
            rows,
            sort="x",
        ),
        direction=direction,
        coverage=min(1.0, sum(c.coverage for c in holders.values())),
    )


def _best(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=_weight)


def _phrases(candidate: Candidate, direction: int) -> tuple[str, str, str]:
    """(what holds, what the exception does when reversed, what it does when the finding is absent)."""
    columns = candidate.columns
    if candidate.type == "trend":
        measure = columns[-1]
        up = direction >= 0
        return (
            f"{measure} {'rises' if up else 'falls'}",
            f"it {'falls' if up else 'rises'}",
            "it shows no clear trend",
        )
    if candidate.type == "correlation" and len(columns) == 2:
        word, other = ("positively", "negatively") if direction >= 0 else ("negatively", "positively")
        return (
            f"{columns[0]} and {columns[1]} are {word} correlated",
            f"they are {other} correlated",
            "they are not clearly correlated",
        )
    if candidate.type == "group_difference" and len(columns) == 2:
        return (
            f"{columns[1]} differs across {columns[0]} groups",
            "it differs the other way",
            "it does not differ clearly",
        )
    what = f"the {candidate.type.replace('_', ' ')} of {', '.join(columns)}"
    return (f"{what} holds", "it is reversed", "it does not hold")
