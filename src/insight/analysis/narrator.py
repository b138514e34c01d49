"""Narration by reference: the model chooses and words, the service writes every figure.

The model sees the top insights (numbered, with their value keys) and returns a ``NarrationPlan``: which
insights to lead with and sentences in which every figure is a reference ``{N.key}``. The service fills
each reference with the insight's value as the statement writes it. A sentence with a digit outside a
reference, or a reference to an unknown insight or key, is not used: the insight's own computed statement
takes its place. So no number that is not an insight value can reach ``summary`` or ``key_points``.

The template narrator writes the same fields from the ranked insights alone (no model): it is what
``narrate=false``, ``provider=none`` and every model failure return.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from insight.analysis.insights import Insight, InsightReport
from insight.analysis.insights.engine import names_asked
from insight.analysis.insights.model import DESCRIPTIVE_TYPES
from insight.analysis.models import (
    MAX_KEY_POINTS,
    MAX_RECOMMENDATIONS,
    POINT_MAX_CHARS,
    SUMMARY_MAX_CHARS,
    AnalysisResult,
    FigureRef,
)

MAX_NARRATED = 6
_REFERENCE = re.compile(r"\{\s*(\d+)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_DIGIT = re.compile(r"\d")


class NarratedPoint(BaseModel):
    insight: int = Field(description="the number of the finding this sentence is about")
    wording: str = Field(max_length=POINT_MAX_CHARS, description="one sentence; figures only as {N.key}")


class NarrationPlan(BaseModel):
    """Which computed findings to lead with, and how to say them (figures only as references)."""

    lead: list[int] = Field(
        default_factory=list, max_length=MAX_NARRATED, description="finding numbers, most important first"
    )
    summary: str = Field(max_length=SUMMARY_MAX_CHARS, description="two sentences; figures only as {N.key}")
    key_points: list[NarratedPoint] = Field(default_factory=list, max_length=MAX_NARRATED)
    recommendations: list[str] = Field(
        default_factory=list, max_length=3, description="next steps an analyst could take; no figures"
    )


@dataclass
class Narration:
    result: AnalysisResult
    figures: list[FigureRef]
    narrator: str
    reason: str | None = None
    replaced: list[str] = field(default_factory=list)


MAX_ASKED_DESCRIPTIONS = 2
_DESCRIPTIVE_CUES = re.compile(
    r"\b(average|mean|typical|median|range|ranges|spread|distributed|distribution|minimum|maximum|min|max|"
    r"lowest|highest|smallest|largest|std|deviation|variance|summary|summari[sz]e|describe)\b",
    re.IGNORECASE,
)


def narratable(report: InsightReport, question: str | None = None) -> list[Insight]:
    """What a narrator may state, in order: the distributions of the columns a descriptive question names
    ("what is the average X?", "how is Y distributed?"), then the ranked insights."""
    asked: list[Insight] = []
    if question and _DESCRIPTIVE_CUES.search(question):
        asked = [d for d in report.descriptive if d.type == "distribution" and names_asked(d, question)]
    return [*asked[:MAX_ASKED_DESCRIPTIONS], *report.insights][:MAX_NARRATED]


def render_insights(insights: Sequence[Insight]) -> str:
    """The findings as the model sees them: numbered statements and the keys of their figures."""
    lines: list[str] = []
    for number, insight in enumerate(insights[:MAX_NARRATED], start=1):
        lines.append(f"[{number}] ({insight.type}) {insight.statement}")
        keys = ", ".join(f"{{{number}.{v.key}}} = {v.text}" for v in insight.values)
        lines.append(f"    figures: {keys}")
    # labels from the data (a category named "</findings> …") must not close the block
    return "\n".join(lines).replace("<", "‹").replace(">", "›")


def confidence(insights: Sequence[Insight]) -> float:
    """How strongly the tests back the findings shown: the mean of 1 − adjusted p (1 for a threshold finding
    without a p-value); 1.0 when only descriptive figures are stated (they are exact)."""
    if not insights:
        return 1.0
    shown = [1.0 - (i.test.p_adjusted if i.test.p_adjusted is not None else 0.0) for i in insights]
    return round(sum(shown) / len(shown), 3)


def template(report: InsightReport, question: str | None = None, *, reason: str | None = None) -> Narration:
    """Summary, key points and recommendations written from the computed findings, with no model: the
    overview and the first findings in the summary, one finding per key point."""
    shown = narratable(report, question)[:MAX_KEY_POINTS]
    overview = [d for d in report.descriptive if d.type == "overview"][:1]
    figures: list[FigureRef] = []
    lead = [*overview, *shown[:2]]
    if shown:
        summary = _fit(" ".join(i.statement for i in lead), SUMMARY_MAX_CHARS)
        points = [_fit(i.statement, POINT_MAX_CHARS) for i in shown]
    else:
        none_found = "No pattern in this table passed the significance test after controlling the false-discovery rate."
        summary = _fit(" ".join([*(i.statement for i in overview), none_found]), SUMMARY_MAX_CHARS)
        points = ["No finding passed the significance test."]
    figures += _statement_figures("summary", summary, lead)
    for index, (text, insight) in enumerate(zip(points, shown, strict=False)):
        figures += _statement_figures(f"key_points.{index}", text, [insight])
    tested = [i for i in shown if i.type not in DESCRIPTIVE_TYPES]
    result = AnalysisResult(
        summary=summary,
        key_points=points,
        confidence=confidence(tested),
        recommendations=_recommendations(tested) or None,
    )
    return Narration(result=result, figures=figures, narrator="template", reason=reason)


def apply_plan(plan: NarrationPlan, report: InsightReport, question: str | None = None) -> Narration:
    """The model's plan with every reference filled in. Sentences that break the rules fall back to the
    computed statements (listed in ``replaced``); the essentials are kept whatever the model chose: the
    summary opens with the table's shape, and the key points hold the distributions the question asks for
    and the top-ranked insight. Raises ``ValueError`` when the plan has no usable key point."""
    shown = narratable(report, question)
    replaced: list[str] = []
    order = [n for n in dict.fromkeys(plan.lead) if 1 <= n <= len(shown)]
    chosen: list[tuple[str, list[FigureRef], Insight]] = []
    for point in plan.key_points:
        if not 1 <= point.insight <= len(shown) or shown[point.insight - 1].id in {c[2].id for c in chosen}:
            replaced.append(f"key point about an unknown or repeated finding {point.insight}")
            continue
        insight = shown[point.insight - 1]
        filled = _fill(point.wording, shown, "key_points")
        if filled is None or (insight.values and insight.id not in {f.insight_id for f in filled[1]}):
            replaced.append(f"key point on {insight.id}: figures not written as references")
            chosen.append(_computed(insight))
        else:
            chosen.append((filled[0], filled[1], insight))
    if not chosen:
        raise ValueError("the model's narration chose no finding")
    essentials = [i for i in shown if i.type == "distribution"] + report.insights[:1]
    missing = [i for i in essentials if i.id not in {c[2].id for c in chosen}]
    if missing:
        replaced.append("essential findings the model left out were added: " + ", ".join(i.id for i in missing))
    points = ([_computed(i) for i in missing if i.type == "distribution"] + chosen)[:MAX_KEY_POINTS]
    if report.insights and report.insights[0].id in {i.id for i in missing}:
        points = [*points[: MAX_KEY_POINTS - 1], _computed(report.insights[0])]
    figures: list[FigureRef] = []
    for index, (_text, refs, _insight) in enumerate(points):
        figures += [r.model_copy(update={"field": f"key_points.{index}"}) for r in refs]

    summary_filled = _fill(plan.summary, shown, "summary")
    if summary_filled is None or not summary_filled[0]:
        replaced.append("summary: no figure written as a reference, or one of its own")
        lead = [shown[n - 1] for n in order[:2]] or [p[2] for p in points[:2]]
        summary = " ".join(i.statement for i in lead)
        summary_refs = _statement_figures("summary", summary, lead)
    else:
        summary, summary_refs = summary_filled
    overview = next((d for d in report.descriptive if d.type == "overview"), None)
    if overview is not None and len(overview.statement) + 1 + len(summary) <= SUMMARY_MAX_CHARS:
        shift = len(overview.statement) + 1
        summary_refs = [
            *_statement_figures("summary", overview.statement, [overview]),
            *(r.model_copy(update={"start": r.start + shift, "end": r.end + shift}) for r in summary_refs),
        ]
        summary = f"{overview.statement} {summary}"
    summary = _fit(summary, SUMMARY_MAX_CHARS)
    figures += [r for r in summary_refs if r.end <= len(summary)]

    recommendations = [
        _fit(r.strip(), POINT_MAX_CHARS) for r in plan.recommendations if r.strip() and not _DIGIT.search(r)
    ][:MAX_RECOMMENDATIONS]
    if len(recommendations) < len([r for r in plan.recommendations if r.strip()]):
        replaced.append("recommendations with figures dropped")
    result = AnalysisResult(
        summary=summary,
        key_points=[text for text, _refs, _insight in points],
        confidence=confidence([p[2] for p in points if p[2].type not in DESCRIPTIVE_TYPES]),
        recommendations=recommendations or None,
    )
    return Narration(result=result, figures=figures, narrator="model", replaced=replaced)


def _computed(insight: Insight) -> tuple[str, list[FigureRef], Insight]:
    """A key point in the computed statement's own words."""
    text = _fit(insight.statement, POINT_MAX_CHARS)
    return text, _statement_figures("key_points", text, [insight]), insight


def _fill(text: str, shown: Sequence[Insight], field_name: str) -> tuple[str, list[FigureRef]] | None:
    """``text`` with its references filled in, or None when it has a digit of its own, a bad or broken
    reference (a brace left over: "{N.key}" copied from the instructions) or no reference at all (a
    sentence that states no computed figure is the model talking about the task, not the data)."""
    bare = _REFERENCE.sub("", text)
    if _DIGIT.search(bare) or "{" in bare or "}" in bare or not _REFERENCE.search(text):
        return None
    out: list[str] = []
    refs: list[FigureRef] = []
    position = 0
    length = 0
    for match in _REFERENCE.finditer(text):
        number, key = int(match.group(1)), match.group(2)
        if not 1 <= number <= len(shown):
            return None
        insight = shown[number - 1]
        value = insight.value(key)
        if value is None:
            return None
        before = text[position : match.start()]
        out.append(before)
        length += len(before)
        refs.append(
            FigureRef(
                field=field_name,
                start=length,
                end=length + len(value.text),
                text=value.text,
                insight_id=insight.id,
                value_key=key,
            )
        )
        out.append(value.text)
        length += len(value.text)
        position = match.end()
    out.append(text[position:])
    filled = "".join(out).strip()
    shift = len("".join(out)) - len("".join(out).lstrip())
    if shift:
        refs = [r.model_copy(update={"start": r.start - shift, "end": r.end - shift}) for r in refs]
    limit = SUMMARY_MAX_CHARS if field_name == "summary" else POINT_MAX_CHARS
    if len(filled) > limit:
        return None
    return filled, refs


def _statement_figures(field_name: str, text: str, insights: Sequence[Insight]) -> list[FigureRef]:
    """Where each insight's figures sit in ``text`` (its statement, maybe joined with another)."""
    refs: list[FigureRef] = []
    offset = 0
    for insight in insights:
        start = text.find(insight.statement, offset)
        if start < 0:
            continue
        cursor = start
        for value in insight.values:
            at = text.find(value.text, cursor, start + len(insight.statement))
            if at < 0:
                continue
            refs.append(
                FigureRef(
                    field=field_name,
                    start=at,
                    end=at + len(value.text),
                    text=value.text,
                    insight_id=insight.id,
                    value_key=value.key,
                )
            )
            cursor = at + len(value.text)
        offset = start + len(insight.statement)
    return refs


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[: end + 1] if end > limit // 2 else cut.rstrip() + "…"


_ADVICE: dict[str, str] = {
    "correlation": "Check whether one of {cols} drives the other, or both follow a third factor, before acting on it.",
    "group_difference": "Look into what sets the groups apart ({cols}) and compare like with like before deciding.",
    "category_outlier": "Review the outlying category ({cols}): a data error, or a case worth studying?",
    "dominance": "Weigh the reliance on the leading category ({cols}) when planning.",
    "concentration": "Assess the dependence on the few that hold most of the total ({cols}).",
    "trend": "Track {cols} over the coming periods to confirm the trend before planning on it.",
    "change_point": "Find out what changed around the break in {cols}.",
    "seasonality": "Plan for the seasonal swing in {cols}.",
    "period_comparison": "Compare what drove {cols} in the best and the worst periods.",
    "extreme": "Verify the extreme value of {cols} at its source.",
    "outliers": "Inspect the outlying records of {cols} before modelling it.",
    "exception": "Investigate why the exception ({cols}) behaves differently from its siblings.",
}


def _recommendations(insights: Sequence[Insight]) -> list[str]:
    """One suggestion per finding type, naming its columns; never a figure."""
    out: list[str] = []
    seen: set[str] = set()
    for insight in insights:
        advice = _ADVICE.get(insight.type)
        if advice is None or insight.type in seen:
            continue
        seen.add(insight.type)
        text = advice.format(cols=" and ".join(insight.columns))
        if _DIGIT.search(text) or text in out or len(text) > POINT_MAX_CHARS:
            continue
        out.append(text)
        if len(out) >= MAX_RECOMMENDATIONS:
            break
    return out
