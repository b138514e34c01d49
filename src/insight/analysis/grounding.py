"""Check every figure the model wrote against the computed facts, and lower its confidence for those that fail.

The rule:

- **Figures** are read from ``summary``, ``key_points`` and ``recommendations``: integers, decimals,
  thousands separators (``1,234``), negatives (``-3``, ``−3``), currency (``$1,200``), percentages
  (``12.5%``, ``12.5 percent``) and scale suffixes (``1.2k``, ``3M``, ``2bn``, ``4 million``). Digits glued
  to letters are not figures (``Q1``, ``25th``, ``x2``, ``sales_2023``); neither is a list marker
  (``1.`` at the start of an item, ``2)`` anywhere).
- **Names are not figures**: every column name and fact id (``columns.sales_2023.trend``) is masked out of
  the text before reading, so the digits in a name the model repeats are not checked.
- **Dates** (``2024-01-31``, ``2024-01``, ``2024Q1``) are checked as strings: supported when a fact's text
  shows the same date. A bare year (``in 2024``) is a figure, supported by any date in the facts.
- **A figure is supported** by a fact when its absolute value is within ``max(rel_tol × |value|, half a
  unit of the figure's last written digit)`` of the absolute value of one of the fact's ``values`` or of a
  figure written in the fact's text (signs are carried by words such as *fell*, so ``fell 12%`` matches a
  change of -12 %). A percentage (``12.5%``) matches a fact's percentage (a ``*_pct`` value, or ``12.5%``
  in its text) as written, or any other value as a fraction (``0.125``; ``93%`` ↔ ``r = 0.93``), never a
  count (``5%`` is not backed by "5 periods"). A plain figure matches any value, and a fact's percentage
  also stands as a fraction (``0.125`` ↔ ``12.5%``).
- ``grounded_rate`` = supported / (supported + unsupported), 1.0 when the result states no figure.
- ``adjusted_confidence = model_confidence × grounded_rate ** alpha`` (``alpha`` = 1 by default: one
  invented figure in four costs a quarter of the confidence). It is never higher than the model's.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from insight.analysis.models import AnalysisResult, Fact, GroundingReport, SupportedNumber, UnsupportedNumber

REL_TOL = 0.01
ALPHA = 1.0

_DATE = re.compile(r"(?<![\w.])\d{4}(?:-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)?|Q[1-4])(?![\w])")
_NUMBER = re.compile(
    r"""
    (?<![\w.])
    (?P<sign>[-−+])?
    (?P<currency>[$€£¥])?
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:
        (?P<percent>\s?%|\s(?:percent|per\ cent)\b)
      | (?P<scale>k|K|M|bn|B|\s(?:thousand|million|billion))(?![\w])
      | (?![\w]|\.\d|,\d{3})
    )
    """,
    re.VERBOSE,
)
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s+|(?<![^\s:;,])\d{1,2}\)(?=\s|$)")  # "1. x" at the start, "… 2) x"
_SCALE = {"k": 1e3, "K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "B": 1e9, "bn": 1e9, "billion": 1e9}


@dataclass(frozen=True)
class Mention:
    """One figure as written: its text, its value, and half a unit of its last digit (its rounding)."""

    text: str
    value: float
    half_unit: float
    percent: bool = False


@dataclass(frozen=True)
class _Candidate:
    value: float
    fact_id: str
    percent: bool = False  # a percentage (``*_pct`` value, or ``12.5%`` in a fact's text)
    order: int = 0  # its place in the pool: of equally close candidates, the first wins


def extract_numbers(text: str) -> list[Mention]:
    """The figures in ``text`` (see the module docstring for what counts)."""
    text = _LIST_MARKER.sub(" ", text)
    mentions = []
    for match in _NUMBER.finditer(text):
        digits = match["digits"].replace(",", "")
        value = float(digits)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        half_unit = 0.5 * 10.0**-decimals
        scale = (match["scale"] or "").strip()
        if scale:
            value *= _SCALE[scale]
            half_unit *= _SCALE[scale]
        if match["sign"] in ("-", "−"):
            value = -value
        mentions.append(Mention(match.group(0).strip(), value, half_unit, percent=bool(match["percent"])))
    return mentions


class _Sorted:
    """Candidates sorted by value, so that those near a figure are found by bisection."""

    def __init__(self, candidates: Iterable[_Candidate]) -> None:
        self.candidates = sorted(candidates, key=lambda c: c.value)
        self.values = [c.value for c in self.candidates]

    def near(self, value: float, half_unit: float, rel_tol: float) -> Sequence[_Candidate]:
        """A superset of the candidates within tolerance of ``value`` (``FactIndex.match`` checks each exactly)."""
        slack = 1e-9 * (abs(value) + half_unit + 1.0)  # float rounding at the edges
        low = min(value * (1.0 - rel_tol), value - half_unit) - slack
        high = max(value / (1.0 - rel_tol) if rel_tol < 1.0 else math.inf, value + half_unit) + slack
        return self.candidates[bisect.bisect_left(self.values, low) : bisect.bisect_right(self.values, high)]


class FactIndex:
    """What ``ground`` needs from the facts and names, computed once: the names to mask (longest first), each
    fact's dates, and the candidate values sorted for lookup (all, percentages only, the rest)."""

    def __init__(self, masks: list[str], fact_dates: list[tuple[str, set[str]]], candidates: list[_Candidate]):
        self.masks = masks
        self.fact_dates = fact_dates
        self._by_kind: dict[bool | None, _Sorted] = {
            None: _Sorted(candidates),
            True: _Sorted(c for c in candidates if c.percent),
            False: _Sorted(c for c in candidates if not c.percent),
        }

    @classmethod
    def build(cls, facts: list[Fact], names: Iterable[str] = ()) -> FactIndex:
        masks = sorted({n for n in [*names, *(f.id for f in facts)] if _maskable(n)}, key=len, reverse=True)
        fact_dates = [(fact.id, set(_DATE.findall(fact.text))) for fact in facts]
        return cls(masks, fact_dates, _candidates(facts))

    def match(self, mention: Mention, rel_tol: float = REL_TOL) -> str | None:
        """The fact whose value is closest to the figure (within tolerance), or None.

        A percentage is compared with the facts' percentages as written and with every other value as a
        fraction (``93%`` ↔ ``r = 0.93``), never with a count: ``5%`` is not backed by "5 periods".
        """
        # (value, half a unit, which candidates it may match: None = any, True = percentages, False = the rest)
        forms: list[tuple[float, float, bool | None]] = [(abs(mention.value), mention.half_unit, None)]
        if mention.percent:
            forms = [
                (abs(mention.value), mention.half_unit, True),
                (abs(mention.value) / 100.0, mention.half_unit / 100.0, False),
            ]
        # the closest; of equally close ones, the earlier form, then the earlier candidate in the pool
        best: tuple[float, int, int, str] | None = None
        for form, (value, half_unit, kind) in enumerate(forms):
            for candidate in self._by_kind[kind].near(value, half_unit, rel_tol):
                error = abs(value - candidate.value)
                scale = max(value, candidate.value)
                if error <= max(rel_tol * scale, half_unit):
                    relative = error / scale if scale else 0.0
                    if best is None or (relative, form, candidate.order) < best[:3]:
                        best = (relative, form, candidate.order, candidate.fact_id)
        return None if best is None else best[3]


def ground(
    result: AnalysisResult,
    facts: list[Fact],
    *,
    names: Iterable[str] = (),
    rel_tol: float = REL_TOL,
    alpha: float = ALPHA,
    index: FactIndex | None = None,
) -> GroundingReport:
    """Which figures in ``result`` the ``facts`` support; ``names`` (column names) are masked out first.

    ``index``: ``FactIndex.build(facts, names)`` made once for these facts and names (a cached profile
    keeps one), so that only the result's own text is read per call; built here when not given.
    """
    if index is None:
        index = FactIndex.build(facts, names)
    texts = [result.summary, *result.key_points, *(result.recommendations or [])]
    supported: list[SupportedNumber] = []
    unsupported: list[UnsupportedNumber] = []
    for raw in texts:
        text = raw
        for name in index.masks:  # longest first, so a name containing another is masked whole
            if name in text:
                text = text.replace(name, " ")
        for date in _DATE.findall(text):
            if len(date) == 4:
                continue  # a bare year: checked as a figure below
            source = next((fact_id for fact_id, dates in index.fact_dates if date in dates), None)
            if source is None:
                unsupported.append(UnsupportedNumber(value=None, text=date))
            else:
                supported.append(SupportedNumber(value=None, text=date, fact_id=source))
        text = _DATE.sub(lambda m: m.group(0) if len(m.group(0)) == 4 else " ", text)
        for mention in extract_numbers(text):
            fact_id = index.match(mention, rel_tol)
            if fact_id is None:
                unsupported.append(UnsupportedNumber(value=mention.value, text=mention.text))
            else:
                supported.append(SupportedNumber(value=mention.value, text=mention.text, fact_id=fact_id))
    checked = len(supported) + len(unsupported)
    rate = len(supported) / checked if checked else 1.0
    adjusted = min(result.confidence, result.confidence * rate**alpha)
    return GroundingReport(
        supported=supported,
        unsupported=unsupported,
        grounded_rate=rate,
        model_confidence=result.confidence,
        adjusted_confidence=max(0.0, adjusted),
    )


def _maskable(name: str) -> bool:
    """A name worth masking: it holds digits and is not itself just a figure (``"2023"`` stays a figure)."""
    return any(ch.isdigit() for ch in name) and any(ch.isalpha() or ch == "_" for ch in name)


def _candidates(facts: list[Fact]) -> list[_Candidate]:
    """Every exact value of every fact, and every figure its text shows (rounded forms, years of dates)."""
    pool: list[_Candidate] = []
    for fact in facts:
        for key, value in fact.values.items():
            if math.isfinite(value):
                percent = key.endswith("pct")
                pool.append(_Candidate(abs(value), fact.id, percent))
                if percent:  # a percentage also stands as a fraction (12.5 → 0.125)
                    pool.append(_Candidate(abs(value) / 100.0, fact.id))
        pool.extend(_Candidate(abs(float(date[:4])), fact.id) for date in _DATE.findall(fact.text))
        for mention in extract_numbers(_DATE.sub(" ", fact.text)):
            pool.append(_Candidate(abs(mention.value), fact.id, mention.percent))
            if mention.percent:
                pool.append(_Candidate(abs(mention.value) / 100.0, fact.id))
    return [_Candidate(c.value, c.fact_id, c.percent, order) for order, c in enumerate(pool)]
