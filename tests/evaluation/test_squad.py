"""SQuAD v1.1 exact match and token F1 (official normalisation)."""

from __future__ import annotations

import pytest

from insight.evaluation.squad import exact_match, normalise_answer, squad_f1


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
