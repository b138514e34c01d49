"""The Analyze page's insight cards in headless Chromium: charts drawn by the vendored Vega-Lite, figures in the
narrative linked to their insight, the narrator badge, data quality; and not one request off the machine."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from insight.api.deps import Services
from insight.config import LLMSettings, Settings
from insight.llm.client import LLMClient
from insight.llm.slot import LLMSlot
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings
from tests.llm.fakes import SchemaAwareFake
from tests.workbench.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

# The fake model's narration plan: figures only as references, which the service fills in from the insights.
PLAN = {
    "lead": [1],
    "summary": "Revenue and units move together (Pearson r = {1.pearson_r}).",
    "key_points": [{"insight": 1, "wording": "Across {1.n} rows, more units mean more revenue."}],
    "recommendations": ["Check whether the relation holds in each region."],
}


@pytest.fixture(scope="module")
def live_server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app and route, with a fake chat model that answers the narration prompt."""

    def build(settings: Settings) -> Services:
        model = SchemaAwareFake(messages=iter(()), tool_args={"NarrationPlan": PLAN})
        slot = LLMSlot(settings.llm, client=LLMClient(model, LLMSettings(provider="local")))
        return build_with_fakes(settings, llm=slot)

    root = tmp_path_factory.mktemp("workbench-insights")
    settings = make_settings(root, model_dir=trained_model_dir, auth=auth_settings(root, dev_mode=True))
    with LiveServer(settings, build) as server:
        yield server


GROUP = "group_difference:body_mass_g:species"
CORR = "correlation:flipper_length_mm:body_mass_g"
TREND = "trend:revenue:month"
OUTLIERS = "outliers:bill_depth_mm"


def _insight(
    id_: str,
    type_: str,
    columns: list[str],
    statement: str,
    values: list[tuple[str, float | None, str, str]],
    test: dict[str, Any],
    chart: dict[str, Any] | None,
    caveats: list[str] | None = None,
    subspace: dict[str, str] | None = None,
    score: float = 0.5,
) -> dict[str, Any]:
    for _key, _value, text, _what in values:
        assert text in statement
    return {
        "id": id_,
        "type": type_,
        "columns": columns,
        "subspace": subspace,
        "statement": statement,
        "values": [{"key": k, "value": v, "text": t, "what": w} for k, v, t, w in values],
        "test": {
            "statistic": None,
            "p_value": None,
            "p_adjusted": None,
            "effect_name": None,
            "effect_size": None,
            **test,
        },
        "impact": score,
        "score": score,
        "expression": f"df  # reproduces {id_}",
        "chart": chart,
        "caveats": caveats or [],
    }


SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
INSIGHTS = [
    _insight(
        GROUP,
        "group_difference",
        ["body_mass_g", "species"],
        "Gentoo body mass averages 5,076 g against 3,701 g for Adelie.",
        [
            ("gentoo_mean", 5076.0, "5,076 g", "mean body_mass_g, species = Gentoo"),
            ("adelie_mean", 3701.0, "3,701 g", "mean body_mass_g, species = Adelie"),
        ],
        {
            "name": "Kruskal–Wallis",
            "statistic": 212.1,
            "p_value": 1.2e-46,
            "p_adjusted": 7.1e-45,
            "effect_name": "epsilon²",
            "effect_size": 0.62,
        },
        {
            "$schema": SCHEMA,
            "title": "body_mass_g by species",
            "mark": "bar",
            "data": {
                "values": [
                    {"species": "Gentoo", "body_mass_g": 5076},
                    {"species": "Chinstrap", "body_mass_g": 3733},
                    {"species": "Adelie", "body_mass_g": 3701},
                ]
            },
            "encoding": {
                "x": {"field": "species", "type": "nominal", "sort": "-y"},
                "y": {"field": "body_mass_g", "type": "quantitative"},
            },
        },
        score=0.61,
    ),
    _insight(
        CORR,
        "correlation",
        ["flipper_length_mm", "body_mass_g"],
        "flipper_length_mm and body_mass_g rise together (Pearson r = 0.87, n = 342).",
        [("r", 0.87, "0.87", "Pearson correlation"), ("n", 342.0, "342", "rows with both values")],
        {
            "name": "Pearson",
            "statistic": 0.87,
            "p_value": 4.4e-107,
            "p_adjusted": 1.3e-105,
            "effect_name": "r",
            "effect_size": 0.87,
        },
        {
            "$schema": SCHEMA,
            "title": "flipper_length_mm against body_mass_g",
            "mark": {"type": "point"},
            "data": {
                "values": [
                    {"flipper_length_mm": 170 + i, "body_mass_g": 3000 + 60 * i + (i % 5) * 40} for i in range(40)
                ]
            },
            "encoding": {
                "x": {"field": "flipper_length_mm", "type": "quantitative", "scale": {"zero": False}},
                "y": {"field": "body_mass_g", "type": "quantitative", "scale": {"zero": False}},
            },
        },
        score=0.55,
    ),
    _insight(
        TREND,
        "trend",
        ["revenue", "month"],
        "In EMEA, revenue rose 42.6 % from 2024-01 to 2025-12.",
        [
            ("change_pct", 42.6, "42.6 %", "change over the period"),
            ("start", None, "2024-01", "first month"),
            ("end", None, "2025-12", "last month"),
        ],
        {
            "name": "Mann–Kendall",
            "statistic": 5.1,
            "p_value": 0.0021,
            "p_adjusted": 0.0134,
            "effect_name": "Theil–Sen slope",
            "effect_size": 3.1,
        },
        {
            "$schema": SCHEMA,
            "title": "revenue by month",
            "mark": {"type": "line", "point": True},
            "data": {
                "values": [
                    {"month": f"{2024 + i // 12}-{i % 12 + 1:02d}-01", "revenue": 100 + 2 * i} for i in range(24)
                ]
            },
            "encoding": {
                "x": {"field": "month", "type": "temporal"},
                "y": {"field": "revenue", "type": "quantitative"},
            },
        },
        caveats=["revenue has 2 missing months; the trend skips them"],
        subspace={"column": "region", "value": "EMEA"},
        score=0.31,
    ),
    _insight(
        OUTLIERS,
        "outliers",
        ["bill_depth_mm"],
        "3 records have an outlying bill_depth_mm (robust z above 3.5).",
        [("count", 3.0, "3", "outlying records"), ("threshold", 3.5, "3.5", "robust z threshold")],
        {"name": "robust z"},
        None,
        score=0.12,
    ),
]


def _figure(field: str, text: str, figure: str, insight_id: str, value_key: str) -> dict[str, Any]:
    start = text.index(figure)  # offsets in characters, as the service counts them
    return {
        "field": field,
        "start": start,
        "end": start + len(figure),
        "text": figure,
        "insight_id": insight_id,
        "value_key": value_key,
    }


SUMMARY = "Gentoo penguins are the heaviest 🐧: 5,076 g on average against 3,701 g for Adelie."
KEY_POINTS = ["Flipper length tracks body mass (r = 0.87).", "EMEA revenue rose 42.6 % over the period."]
FIGURES = [
    _figure("summary", SUMMARY, "5,076 g", GROUP, "gentoo_mean"),
    _figure("summary", SUMMARY, "3,701 g", GROUP, "adelie_mean"),
    _figure("key_points.0", KEY_POINTS[0], "0.87", CORR, "r"),
    _figure("key_points.1", KEY_POINTS[1], "42.6 %", TREND, "change_pct"),
]
RESULT = {"summary": SUMMARY, "key_points": KEY_POINTS, "confidence": 0.9, "recommendations": None}
QUALITY = [{"column": "bill_depth_mm", "kind": "missing", "detail": "2 of 344 values are missing", "share": 0.0058}]


def _meta(narrator: str, reason: str | None) -> dict[str, Any]:
    return {
        "narrator": narrator,
        "narrator_reason": reason,
        "insights_significant": 11,
        "candidates_tested": 57,
        "engine_ms": 84.2,
        "provider": "local",
        "model": "fake",
        "notes": [],
    }


def _sse(*events: tuple[str, dict[str, Any]]) -> str:
    # CRLF line ends, as sse-starlette writes them: the page must split on either
    return "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


@pytest.fixture
def local_only(page: Any, live_server: LiveServer) -> Iterator[list[str]]:
    """Fails the test on any request that is not to the service under test (a CDN, a schema URL, …), and on
    any error or warning the page logs (a script that did not load, a spec Vega-Lite complains about)."""
    outside: list[str] = []
    logged: list[str] = []

    def check(request: Any) -> None:
        if not request.url.startswith((live_server.url + "/", "data:", "blob:")):
            outside.append(request.url)

    page.on("request", check)
    page.on("console", lambda m: logged.append(f"{m.type}: {m.text}") if m.type in {"error", "warning"} else None)
    page.context.route(lambda url: not url.startswith(live_server.url + "/"), lambda route: route.abort())
    yield outside
    assert not outside, f"requests that left the machine: {outside}"
    assert not logged, f"the page logged: {logged}"


def _post_table(page: Any, *, narrate: bool = True) -> None:
    page.goto("/ui/analyze")
    page.get_by_label("Table: CSV with a header row, or JSON records").fill("species,body_mass_g\nGentoo,5000\n")
    if not narrate:
        page.get_by_label("let the language model word the summary", exact=False).uncheck()
    page.get_by_role("button", name="Analyze").click()


def _expect_cards_with_charts(page: Any, insights: list[dict[str, Any]]) -> None:
    cards = page.locator("#insights > li.insight")
    expect(cards).to_have_count(len(insights))
    for i, insight in enumerate(insights):
        card = cards.nth(i)
        expect(card).to_have_attribute("id", f"insight-{insight['id']}")
        expect(card.locator(".statement")).to_have_text(insight["statement"])
        if insight["chart"]:
            expect(card.locator('.chart[data-state="rendered"]')).to_have_count(1, timeout=20_000)
            expect(card.locator(".chart svg.marks").first).to_be_visible()
        else:
            expect(card.locator(".chart")).to_have_count(0)


def test_streamed_insights_render_as_cards_with_charts_and_linked_figures(page: Any, local_only: list[str]) -> None:
    posted: list[Any] = []

    def reply(route: Any) -> None:
        posted.append(route.request.post_data_json)
        body = _sse(
            ("insights", {"insights": INSIGHTS, "quality": QUALITY, "meta": _meta("template", None)}),
            ("narration", {"result": RESULT, "figures": FIGURES}),
            ("done", {"meta": _meta("template", "the model's reply named no insight")}),
        )
        route.fulfill(status=200, headers={"content-type": "text/event-stream; charset=utf-8"}, body=body)

    page.route("**/api/v1/analyze", reply)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _post_table(page)

    _expect_cards_with_charts(page, INSIGHTS)
    assert posted[0]["stream"] is True and posted[0]["narrate"] is True
    # the bar chart draws one bar per category, the line one point per month
    expect(page.locator(f'[id="insight-{GROUP}"] .chart svg path[aria-roledescription="bar"]')).to_have_count(3)
    expect(page.locator("#insights-count")).to_contain_text("4 shown of 11 significant · 57 tests run")

    badge = page.locator("#narrator")
    expect(badge).to_have_class("narrator template")
    expect(badge).to_contain_text("template")
    expect(badge).to_contain_text("the model's reply named no insight")

    summary = page.locator("#result .summary")
    expect(summary).to_have_text(SUMMARY)  # the emoji shifts UTF-16 offsets: the figures must still sit right
    expect(summary.locator("a.figure")).to_have_text(["5,076 g", "3,701 g"])
    link = page.locator("#result .key-points a.figure", has_text="42.6 %")
    expect(link).to_have_attribute("title", f"change over the period — insight #3: {INSIGHTS[2]['statement']}")
    trend = page.locator(f'[id="insight-{TREND}"]')
    expect(trend).not_to_have_class("insight highlighted")
    link.click()
    expect(trend).to_have_class("insight highlighted")
    expect(trend).to_be_focused()
    expect(trend.locator(".value.highlighted")).to_have_text("42.6 %")
    expect(trend).to_be_in_viewport()
    page.locator("#result .summary a.figure", has_text="3,701 g").click()
    expect(trend).not_to_have_class("insight highlighted")  # one card at a time
    expect(page.locator(f'[id="insight-{GROUP}"] .value.highlighted')).to_have_text("3,701 g")

    expect(trend.locator(".subspace")).to_have_text("region = EMEA")
    expect(trend.locator(".caveats li")).to_have_text(INSIGHTS[2]["caveats"])
    test = trend.locator("details.test")
    expect(test.locator("summary")).to_have_text("Mann–Kendall: p = 0.002, adjusted 0.013")
    test.locator("summary").click()
    expect(test.locator("dl")).to_contain_text("Theil–Sen slope = 3.10")
    group_test = page.locator(f'[id="insight-{GROUP}"] details.test summary')
    expect(group_test).to_have_text("Kruskal–Wallis: p = 1.2 × 10⁻⁴⁶, adjusted 7.1 × 10⁻⁴⁵")
    outliers = page.locator(f'[id="insight-{OUTLIERS}"]')
    expect(outliers.locator("details.test summary")).to_have_text("robust z (descriptive: no p-value)")

    expression = trend.locator("details.expression")
    expression.locator("summary").click()
    expression.get_by_role("button", name=f"Copy the pandas code of insight {TREND}").click()
    expect(expression.locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == INSIGHTS[2]["expression"]

    expect(page.locator("#quality tbody tr")).to_have_count(1)
    expect(page.locator("#quality tbody tr")).to_contain_text("bill_depth_mm")
    expect(page.locator("#quality tbody tr")).to_contain_text("0.6 %")


def test_a_json_answer_renders_too_and_narrate_off_is_sent(page: Any, local_only: list[str]) -> None:
    posted: list[Any] = []
    overview = _insight(
        "overview",
        "overview",
        [],
        "The table has 344 rows and 4 columns.",
        [("rows", 344.0, "344", "rows"), ("columns", 4.0, "4", "columns")],
        {"name": "none"},
        None,
    )

    def reply(route: Any) -> None:
        posted.append(route.request.post_data_json)
        body = {
            "result": RESULT,
            "insights": INSIGHTS[:2],
            "descriptive": [overview],
            "figures": FIGURES,
            "quality": [],
            "facts": [],
            "grounding": {},
            "meta": _meta("model", None),
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/analyze", reply)
    _post_table(page, narrate=False)
    _expect_cards_with_charts(page, INSIGHTS[:2])
    assert posted[0]["narrate"] is False
    expect(page.locator("#narrator")).to_have_class("narrator model")
    expect(page.locator("#narrator")).to_have_text("model Worded by the model (local / fake)")
    # the trend insight is not in this answer: its figure is shown, marked, but links nowhere
    points = page.locator("#result .key-points")
    expect(points.locator("a.figure")).to_have_text(["0.87"])
    expect(points.locator("mark.figure.unlinked")).to_have_text(["42.6 %"])
    expect(page.locator("#descriptive > li.insight.descriptive")).to_have_count(1)
    expect(page.locator("#descriptive .score")).to_have_text("computed, not tested")
    expect(page.locator("#quality-section")).to_be_hidden()


def test_a_stream_error_is_shown_and_the_insights_stay(page: Any, local_only: list[str]) -> None:
    def reply(route: Any) -> None:
        body = _sse(
            ("insights", {"insights": INSIGHTS[:1], "quality": [], "meta": _meta("template", None)}),
            ("error", {"status": 504, "message": "the language model timed out"}),
        )
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)

    page.route("**/api/v1/analyze", reply)
    _post_table(page)
    _expect_cards_with_charts(page, INSIGHTS[:1])
    expect(page.locator("#analyze-form .form-error")).to_have_text("the language model timed out")
    expect(page.get_by_role("button", name="Analyze")).to_be_enabled()


def _sales(months: int = 36) -> str:
    """Three regions at different levels over three years, a yearly cycle, and units that follow revenue."""
    rng = np.random.default_rng(7)
    rows = ["month,region,revenue,units"]
    for m in range(months):
        month = pd.Timestamp("2023-01-01") + pd.DateOffset(months=m)
        for region, level in [("EMEA", 120), ("Americas", 160), ("APAC", 90)]:
            revenue = level + 2.0 * m + 25 * math.sin(2 * math.pi * month.month / 12) + rng.normal(0, 6)
            rows.append(f"{month:%Y-%m-%d},{region},{revenue:.1f},{revenue / 4 + rng.normal(0, 2):.0f}")
    return "\n".join(rows)


def test_the_real_route_streams_cards_with_charts_and_the_model_narration(page: Any, local_only: list[str]) -> None:
    page.goto("/ui/analyze")
    page.get_by_label("Table: CSV with a header row, or JSON records").fill(_sales())
    page.get_by_role("button", name="Analyze").click()

    badge = page.locator("#narrator")
    expect(badge).to_have_class("narrator model", timeout=30_000)
    expect(badge).to_contain_text("Worded by the model")
    cards = page.locator("#insights > li.insight")
    expect(cards.first).to_be_visible()
    charts = page.locator("#insights .chart")
    assert charts.count() >= 2, "a scatter chart for the correlation, bars for the regions"
    for i in range(charts.count()):
        expect(charts.nth(i)).to_have_attribute("data-state", "rendered", timeout=20_000)
        expect(charts.nth(i).locator("svg.marks")).to_be_visible()
    correlation = page.locator('#insights > li.insight[data-type="correlation"]').first
    expect(correlation.locator(".statement")).to_contain_text("revenue and units are positively correlated")
    expect(
        correlation.locator(
            ".chart svg path[aria-roledescription='circle'], .chart svg path[aria-roledescription='point']"
        ).first
    ).to_be_visible()

    summary = page.locator("#result .summary")
    expect(summary).to_contain_text("Revenue and units move together (Pearson r = ")
    link = summary.locator("a.figure:not([data-insight='overview'])").first  # an insight card, not the overview
    target = link.get_attribute("data-insight")
    card = page.locator(f'[id="insight-{target}"]')
    value = card.locator(f'.value[data-key="{link.get_attribute("data-value-key")}"]')
    expect(value).to_have_text(link.inner_text())  # the figure is the insight's own value, as its statement writes it
    link.click()
    expect(card).to_have_class("insight highlighted")
    expect(value).to_have_class("value highlighted")
    expect(page.locator("#result .recommendations")).to_contain_text("Check whether the relation holds")
    page.wait_for_timeout(1800)  # let the highlight's flash settle before the screenshot
    screenshot(page, "analyze-insights")

    page.get_by_label("let the language model word the summary", exact=False).uncheck()
    page.get_by_role("button", name="Analyze").click()
    expect(badge).to_have_class("narrator template")
    expect(badge.locator(".reason")).not_to_be_empty()
    expect(charts.first).to_have_attribute("data-state", "rendered")


def test_an_uploaded_parquet_file_is_analyzed(page: Any, local_only: list[str], tmp_path: Path) -> None:
    path = tmp_path / "sales.parquet"
    pd.read_csv(io.StringIO(_sales())).to_parquet(path)
    page.goto("/ui/analyze")
    page.get_by_label("…or upload a .csv, .tsv, .json, .jsonl, .parquet or .xlsx file").set_input_files(str(path))
    page.get_by_label("let the language model word the summary", exact=False).uncheck()
    page.get_by_role("button", name="Analyze").click()
    correlation = page.locator('#insights > li.insight[data-type="correlation"]').first
    expect(correlation.locator(".statement")).to_contain_text("revenue and units are positively correlated")
    expect(correlation.locator('.chart[data-state="rendered"] svg.marks')).to_be_visible()
    expect(page.locator("#narrator")).to_have_class("narrator template")
