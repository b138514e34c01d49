"""SQuAD v1.1 exact match and token F1 (official normalisation), its halves and its folders as suite data."""

from __future__ import annotations

from pathlib import Path

import pytest

from insight.errors import SuiteInvalid
from insight.evaluation.datasets import load_squad
from insight.evaluation.runner import span_scores
from insight.evaluation.squad import article_half, exact_match, normalise_answer, squad_f1


def test_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalise_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Broncos", "Denver Broncos") == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("Denver Broncos won", "the Denver Broncos", 0.8),
        ("Carolina", "Denver Broncos", 0.0),
        ("", "", 1.0),
        ("a", "Denver", 0.0),
    ],
)
def test_token_f1(prediction: str, reference: str, expected: float) -> None:
    assert squad_f1(prediction, reference) == pytest.approx(expected)


def test_article_half_is_the_article_numbers_parity() -> None:
    assert article_half("00_012") == "tune" and article_half("07_000") == "report"
    with pytest.raises(ValueError, match="article number"):
        article_half("intro")


def test_a_squad_folder_loads_one_half_with_its_gold_answers(squad_folder: Path) -> None:
    report = load_squad(squad_folder, "report")
    assert [c["id"] for c in report.cases] == ["s2", "s3"]
    assert report.cases[0] == {
        "id": "s2",
        "query": "What are hotels in Lisbon capped at per night?",
        "relevant": {"01_000": 1},
        "answers": ["180 euros"],
    }
    assert [c["id"] for c in load_squad(squad_folder, "tune").cases] == ["s1"]
    assert len(load_squad(squad_folder, "all").cases) == 3
    assert report.corpus == squad_folder / "corpus.jsonl" and report.name == "squad-report"
    with (squad_folder / "answers.jsonl").open("ab") as answers:
        answers.write(b'["not", "an", "object"]\n')
    with pytest.raises(SuiteInvalid, match=r"answers\.jsonl:4: each line must be a JSON object"):
        load_squad(squad_folder, "report")
    (squad_folder / "answers.jsonl").unlink()
    with pytest.raises(SuiteInvalid, match=r"lacks answers\.jsonl"):
        load_squad(squad_folder, "report")


def test_span_scores_are_squad_scores_over_every_gold_answer() -> None:
    scores = span_scores("They are kept for 13 months.", ["13 months", "thirteen months"])
    assert scores == {"exact_match": 0.0, "squad_f1": pytest.approx(2 * (2 / 6) / (2 / 6 + 1)), "answer_contained": 1.0}
    assert span_scores("the 13 months", ["13 months"])["exact_match"] == 1.0
    assert span_scores("13 monthly", ["13 months"])["answer_contained"] == 0.0
    assert span_scores("anything", None) == {}
