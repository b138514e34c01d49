"""Each workbench page driven in headless Chromium against a live service; screenshots go to docs/screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from insight.predictor.data import load_dataset
from tests.workbench.conftest import screenshot

pytestmark = pytest.mark.browser

CSV = "month,region,revenue\n2026-01-01,EMEA,100\n2026-02-01,EMEA,110\n2026-03-01,APAC,125\n"
REFUNDS = b"# Refunds\n\nRefunds are paid within 30 days to the original card.\n"
PARKING = b"# Parking\n\nParking permits are issued by the facilities team on request.\n"


def test_analyze_shows_api_errors_next_to_the_field(page: Any) -> None:
    page.goto("/ui/analyze")
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator('[data-error-for~="table"]')).to_contain_text("Paste a table or choose a file")
    page.get_by_label("Table: CSV with a header row, or JSON records").fill("month,revenue\n")
    page.get_by_role("button", name="Analyze").click()
    error = page.locator('[data-error-for~="csv"]')
    expect(error).not_to_be_empty()
    assert page.locator("#analysis").is_hidden()


def test_documents_upload_search_and_ask_with_citations(page: Any) -> None:
    page.goto("/ui/documents")
    page.get_by_label("New collection").fill("handbook")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#collections tbody")).to_contain_text("handbook")

    page.get_by_label("Files to ingest (txt, md, html, pdf, csv, json, jsonl)").set_input_files(
        [
            {"name": "refunds.md", "mimeType": "text/markdown", "buffer": REFUNDS},
            {"name": "parking.md", "mimeType": "text/markdown", "buffer": PARKING},
            {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x00\x01"},
        ]
    )
    page.get_by_role("button", name="Upload").click()
    uploads = page.locator("#uploads")
    expect(uploads.locator('li[data-file="refunds.md"] .status')).to_contain_text("added")
    expect(uploads.locator('li[data-file="parking.md"] .status')).to_contain_text("added")
    expect(uploads.locator('li[data-file="tool.exe"]')).to_have_class("failed")
    expect(uploads.locator('li[data-file="tool.exe"] .status')).to_contain_text(".md")  # lists what is supported
    expect(page.locator("#collections tbody tr", has_text="handbook")).to_contain_text("2")

    page.get_by_label("Query").fill("refund card")
    page.get_by_label("Mode").select_option("lexical")
    page.get_by_role("button", name="Search").click()
    first = page.locator("#hits li").first
    expect(first).to_contain_text("Refunds")
    expect(first.locator(".scores")).to_contain_text("lexical #1")

    page.get_by_label("Question", exact=True).fill("When are refunds paid?")
    page.get_by_role("button", name="Ask").click()
    # extractive by default: the passage's sentence, verbatim (its heading is not an answer)
    expect(page.locator("#answer")).to_have_text("Refunds are paid within 30 days to the original card.")
    citation = page.locator("#citations button.citation").first
    expect(citation).to_contain_text("[1]")
    screenshot(page, "documents")
    citation.click()
    dialog = page.locator("#chunk-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("mark.span")).to_contain_text("Refunds are paid within 30 days")
    expect(dialog.locator("#chunk-where")).to_contain_text("characters")
    screenshot(page, "documents-citation")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_predict_form_from_the_feature_schema_and_batch_download(page: Any) -> None:
    data = load_dataset()
    page.goto("/ui/predict")
    inputs = page.locator("#features input")
    expect(inputs).to_have_count(len(data.feature_names))
    for name, value in zip(data.feature_names, data.features[0], strict=True):
        page.get_by_label(name, exact=True).fill(str(value))
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.locator("#prediction")).to_contain_text(data.class_labels[int(data.target[0])])

    header = ",".join(f'"{name}"' for name in data.feature_names)
    lines = [",".join(str(v) for v in data.features[i]) for i in range(5)]
    page.get_by_label("CSV with a header row of feature names").set_input_files(
        {"name": "rows.csv", "mimeType": "text/csv", "buffer": "\n".join([header, *lines]).encode()}
    )
    page.get_by_role("button", name="Predict all").click()
    expect(page.locator("#predictions tbody tr")).to_have_count(5)
    download_link = page.locator("#download")
    expect(download_link).to_be_visible()
    with page.expect_download() as info:
        download_link.click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "row,label,prediction,confidence" and len(text.splitlines()) == 6
    screenshot(page, "predict")


def test_predict_batch_error_names_the_problem(page: Any) -> None:
    page.goto("/ui/predict")
    page.get_by_label("CSV with a header row of feature names").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"not_a_feature\n1.0\n"}
    )
    page.get_by_role("button", name="Predict all").click()
    expect(page.locator("#batch-form .form-error")).to_contain_text("not_a_feature")


def test_a_wrong_key_is_explained_and_the_right_one_is_used(page: Any) -> None:
    page.goto("/ui/documents")
    dev_key = page.locator("body").get_attribute("data-dev-key")
    assert dev_key and dev_key.startswith("ins_")
    expect(page.get_by_label("API key")).to_have_value(dev_key)  # dev mode pre-fills the local key
    page.get_by_label("API key").fill("ins_000000000000_wrong")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#collections-error")).to_contain_text("enter a valid API key")
    page.get_by_label("API key").fill(dev_key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#collections-error")).to_be_empty()


def test_pages_work_from_the_keyboard(page: Any) -> None:
    page.goto("/ui/analyze")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator(".skip")).to_be_focused()
    key = page.get_by_label("API key").input_value()
    page.get_by_label("API key").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.locator("#key-state")).to_have_text("key set")
    page.get_by_label("Table: CSV with a header row, or JSON records").focus()
    page.keyboard.insert_text(CSV)
    button = page.get_by_role("button", name="Analyze")
    for _ in range(8):  # file, question, domain, sampling, then the button
        page.keyboard.press("Tab")
        if button.evaluate("node => node === document.activeElement"):
            break
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#result .summary")).to_be_visible()


def test_evaluations_run_a_suite_and_compare_prompt_versions(page: Any) -> None:
    page.goto("/ui/evals")
    suite = page.get_by_label("Suite")
    expect(suite.locator("option")).to_have_count(1)
    expect(suite).to_have_value("analysis-two-versions")
    page.get_by_role("button", name="Start a run").click()
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(2, timeout=60_000)  # one row per prompt version
    expect(rows.nth(0)).to_contain_text("narration v1")
    expect(rows.nth(1)).to_contain_text("narration v2")
    # The fake model never writes a usable narration plan: the template narrates, model_narration misses its
    # target, so the gate fails.
    expect(rows.nth(0).locator(".fail")).to_be_visible()
    link = rows.nth(0).get_by_role("link", name="open run")
    assert "/#/runs/" in (link.get_attribute("href") or "")
    chart = page.locator("#chart svg")
    expect(chart).to_have_attribute("data-metrics", "2")
    expect(chart.locator("rect.bar")).to_have_count(4)  # 2 metrics × 2 versions
    expect(chart.locator("line.target")).to_have_count(2)
    metrics = page.locator("#metrics tbody tr")
    expect(metrics).to_have_count(4)
    expect(metrics.filter(has_text="model_narration").first).to_contain_text(">= 0.800")
    screenshot(page, "evals")
