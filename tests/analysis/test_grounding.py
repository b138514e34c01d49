"""Figures in the result checked against the facts; confidence lowered for the unsupported ones."""

from __future__ import annotations

import pytest

from insight.analysis import AnalysisResult, Fact, extract_numbers, ground, parse_records, profile

FACTS = [
    Fact(
        id="dataset.shape",
        kind="shape",
        text="The data has 1,200 rows and 4 columns.",
        values={"rows": 1200, "columns": 4},
    ),
    Fact(
        id="columns.sales_2023.trend",
        kind="trend",
        text='Trend of "sales_2023" over "month": down, from 80 (2024-01-01) to 64 (2024-03-01), change -16 (-20%).',
        values={"first": 80.0, "last": 64.0, "change": -16.0, "change_pct": -20.0, "periods": 3.0},
    ),
    Fact(
        id="columns.region.categories",
        kind="categories",
        text='Column "region" values: "north" 3 (12.5%).',
        values={"top1_count": 3.0, "top1_pct": 12.5},
    ),
    Fact(
        id="columns.price.distribution",
        kind="distribution",
        text='Column "price": mean 1,234.57.',
        values={"mean": 1234.5678, "std": 0.123456},
    ),
]


def result(*points: str, summary: str = "Summary.", confidence: float = 0.8) -> AnalysisResult:
    return AnalysisResult(summary=summary, key_points=list(points) or ["nothing"], confidence=confidence)


def supported_texts(report_points: list[str], **kwargs: object) -> tuple[list[str], list[str]]:
    report = ground(result(*report_points), FACTS, names=["sales_2023", "region", "price"])
    return [s.text for s in report.supported], [u.text for u in report.unsupported]


@pytest.mark.parametrize(
    "point",
    [
        "Sales fell 20% over the period.",  # percent of a percent value, sign carried by the word
        "Sales changed by -20%.",
        "Sales fell by 16 from 80 to 64.",
        "The north share is 12.5%.",
        "The north share is 0.125.",  # the fraction form
        "North holds 12.5 percent of rows.",
        "The mean price is $1,234.57.",  # currency, thousands separator, the fact's own rounding
        "The mean price is about 1,235.",  # coarser rounding, within 1 %
        "The mean price is 1.2k.",  # 1.2k = 1,200 ± 50
        "Price std is 0.12.",  # within half a unit of the written digit
        "There are 1200 rows and 4 columns.",
        "Trends were measured in 2024.",  # a year of a date the facts show
        "The series starts on 2024-01-01.",  # a date the facts show
    ],
)
def test_figures_the_facts_hold_are_supported(point: str) -> None:
    supported, unsupported = supported_texts([point])
    assert unsupported == [] and supported


@pytest.mark.parametrize(
    ("point", "bad"),
    [
        ("Sales fell 25%.", "25%"),
        ("The mean price is 1,300.", "1,300"),
        ("About 3.7k rows.", "3.7k"),
        ("The series ends on 2024-05-01.", "2024-05-01"),
        ("Prices will rise 7 percent next year.", "7 percent"),
        ("The north share is 14%.", "14%"),  # 14 vs 12.5: outside half a unit and 1 % (13% would be rounding)
    ],
)
def test_invented_figures_are_unsupported(point: str, bad: str) -> None:
    _, unsupported = supported_texts([point])
    assert unsupported == [bad]


def test_names_list_markers_and_ordinals_are_not_figures() -> None:
    supported, unsupported = supported_texts(
        [
            "1. sales_2023 fell (see columns.sales_2023.trend).",
            "Q3 and the 25th percentile are discussed; x2 is a label.",
            "Factors: 1) cost 2) units.",
        ]
    )
    assert supported == [] and unsupported == []


def test_rate_and_confidence_lowering() -> None:
    answer = AnalysisResult(
        summary="Sales fell 20% from 80 to 64.",
        key_points=["North is 12.5% of rows.", "Revenue will reach 999 next quarter."],
        confidence=0.9,
        recommendations=["Investigate the 55% drop."],
    )
    report = ground(answer, FACTS)
    assert [s.text for s in report.supported] == ["20%", "80", "64", "12.5%"]
    assert [u.text for u in report.unsupported] == ["999", "55%"]
    assert report.grounded_rate == pytest.approx(4 / 6)
    assert report.model_confidence == 0.9
    assert report.adjusted_confidence == pytest.approx(0.9 * 4 / 6)
    assert ground(answer, FACTS, alpha=2.0).adjusted_confidence == pytest.approx(0.9 * (4 / 6) ** 2)
    supported = {s.text: s.fact_id for s in report.supported}
    assert supported["20%"] == "columns.sales_2023.trend" and supported["12.5%"] == "columns.region.categories"


def test_no_figures_keeps_the_confidence() -> None:
    report = ground(result("Sales went down.", confidence=0.7), FACTS)
    assert report.grounded_rate == 1.0 and report.adjusted_confidence == 0.7
    assert report.supported == [] and report.unsupported == []


def test_confidence_is_never_raised() -> None:
    for confidence in (0.0, 0.3, 1.0):
        report = ground(result("Sales fell 20%.", "Made up 77.", confidence=confidence), FACTS)
        assert report.adjusted_confidence <= confidence


def test_facts_from_a_real_profile_ground_their_own_text(sales: list[dict[str, object]]) -> None:
    facts = profile(parse_records(sales).frame).facts
    copied = AnalysisResult(summary=facts[1].text[:600], key_points=[f.text[:240] for f in facts[2:7]], confidence=1.0)
    report = ground(copied, facts, names=["month", "sales", "cost", "region", "units"])
    assert report.unsupported == [] and report.grounded_rate == 1.0 and len(report.supported) > 10


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("rose 12.5% to $1,234.50", [12.5, 1234.5]),
        ("-3 and −4.2", [-3.0, -4.2]),
        ("1.2k users, 3M views, 2bn, 4 million", [1200.0, 3e6, 2e9, 4e6]),
        ("1.5x and 3rd and 25th, Q1", []),
        ("grew 50.", [50.0]),
        ("(n=12), .5", [12.0, 0.5]),
        ("(+50%) and 3)", [50.0]),
    ],
)
def test_extract_numbers(text: str, values: list[float]) -> None:
    assert [m.value for m in extract_numbers(text)] == pytest.approx(values)


def test_a_percentage_is_not_backed_by_a_count() -> None:
    facts = [Fact(id="t", kind="trend", text="5 periods, first 10.", values={"periods": 5.0, "first": 10.0})]
    report = ground(result("Sales grew 5% and then 10%.", "There were 5 periods."), facts)
    assert [u.text for u in report.unsupported] == ["5%", "10%"]
    assert [s.text for s in report.supported] == ["5"]
    correlation = [Fact(id="c", kind="correlation", text="r = 0.93", values={"r": 0.93})]
    assert ground(result("A 93% correlation."), correlation).grounded_rate == 1.0


def test_an_index_built_once_grounds_as_a_fresh_one_does() -> None:
    from insight.analysis.grounding import FactIndex

    names = ["sales_2023", "region", "price"]
    index = FactIndex.build(FACTS, names)
    answers = [
        result("Sales fell 20% from 80 to 64 (2024-01-01 to 2024-03-01).", "Mean price 1,234.57; 1.2k rows."),
        result("North holds 12.5% (0.125) of rows; sales_2023 fell by 16.", "Up 7% to 99 in 2025-07-01."),
        result("Columns: 4, change -16, 3 periods; 5% of 3 is not backed."),
    ]
    for answer in answers:
        assert ground(answer, FACTS, names=names, index=index) == ground(answer, FACTS, names=names)


def test_of_equally_close_facts_the_first_backs_the_figure() -> None:
    from insight.analysis.grounding import FactIndex

    twins = [
        Fact(id="a.first", kind="shape", text="x", values={"v": 10.0}),
        Fact(id="b.second", kind="shape", text="x", values={"v": 10.0}),
    ]
    report = ground(result("It is 10."), twins, index=FactIndex.build(twins))
    assert [item.fact_id for item in report.supported] == ["a.first"]


def test_a_profile_builds_its_grounding_index_once_per_names() -> None:
    rows = [{"month": f"2024-0{i}-01", "sales": 10.0 * i} for i in range(1, 7)]
    facts = profile(parse_records(rows).frame)
    first = facts.grounding_index(["month", "sales"])
    assert facts.grounding_index(["month", "sales"]) is first
    assert facts.grounding_index(["sales"]) is not first
