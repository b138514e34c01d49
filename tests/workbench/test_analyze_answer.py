"""The Analyze page shows a question's computed answer: the values, the sentence and the plan as steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from insight.api.deps import Services
from insight.config import Settings
from tests.api.conftest import build_with_fakes
from tests.conftest import auth_settings, make_settings
from tests.workbench.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

CSV = "units,revenue\n" + "".join(f"{u},{u * 12.5 + (i % 3)}\n" for i, u in enumerate(range(10, 40)))


@pytest.fixture(scope="module")
def live_server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    def build(settings: Settings) -> Services:
        return build_with_fakes(settings)

    root = tmp_path_factory.mktemp("workbench-answer")
    settings = make_settings(root, model_dir=trained_model_dir, auth=auth_settings(root, dev_mode=True))
    with LiveServer(settings, build) as server:
        yield server


def test_the_answer_and_its_plan_are_shown_next_to_the_analysis(page: Any) -> None:
    page.goto("/ui/analyze")
    page.get_by_label("Table: CSV with a header row, or JSON records").fill(CSV)
    page.get_by_label("Question (optional)").fill("@mean_units[m] and @max_revenue[x], rounded to two decimal places")
    page.get_by_label("let the language model word the summary", exact=False).uncheck()
    page.get_by_role("button", name="Analyze").click()
    answer = page.locator("#answer")
    expect(answer).to_be_visible()
    expect(page.locator("#answer-sentence")).to_have_text(
        "Computed from the table: mean units is 24.50; max revenue is 489.50."
    )
    expect(page.locator("#answer-steps li")).to_have_text(
        [
            "mean_units = aggregate(column='units', fn='mean', round=2)",
            "max_revenue = aggregate(column='revenue', fn='max', round=2)",
        ]
    )
    expect(page.locator("#answer-meta")).to_contain_text("planned by rules")
    screenshot(page, "analyze-answer")

    # the plan is editable: the edited plan runs on the same table, planned by the user
    page.locator("#plan-editor summary").click()
    editor = page.get_by_label("Plan (JSON: the operations of the plan language)")
    edited = editor.input_value().replace('"fn": "mean"', '"fn": "min"').replace('"mean_units"', '"min_units"')
    editor.fill(edited)
    page.get_by_role("button", name="Run this plan").click()
    expect(page.locator("#answer-sentence")).to_have_text(
        "Computed from the table: min units is 10.00; max revenue is 489.50."
    )
    expect(page.locator("#answer-meta")).to_contain_text("planned by user")
    editor.fill(edited.replace('"fn": "min"', '"fn": "mode_of_everything"'))
    page.get_by_role("button", name="Run this plan").click()
    expect(page.locator("#plan-error")).to_contain_text("steps.0")
    editor.fill("{not json")
    page.get_by_role("button", name="Run this plan").click()
    expect(page.locator("#plan-error")).to_contain_text("Not valid JSON")

    page.get_by_label("Question (optional)").fill("Why did revenue grow?")
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#answer-sentence")).to_contain_text("Not answered by computation")
    expect(page.locator("#answer-steps li")).to_have_count(0)
