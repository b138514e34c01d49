from __future__ import annotations

import pytest

from insight.analysis.plan.scoring import question_correct, value_matches


@pytest.mark.parametrize(
    ("answer", "label", "ok"),
    [
        ("34.65", "34.65", True),
        ("0.00", "0.0", True),
        ("0.9996", "1.0", True),
        ("37.30", "37.3", True),
        ("364", "364", True),
        ("363.7", "364", True),
        ("0.21", "0.22", False),
        ("Non-Normal", '"Non-Normal"', True),
        ("not normally distributed", "Not Normally Distributed", True),
        ("skewed_left", "skewed_right", False),
        (None, "1", False),
        ("nan", "1.0", False),
    ],
)
def test_value_matches_after_the_labels_rounding(answer: str | None, label: str, ok: bool) -> None:
    assert value_matches(answer, label) is ok


def test_every_labelled_pair_must_match() -> None:
    labels = [["a", "1.5"], ["b", "yes"]]
    assert question_correct({"a": "1.50", "b": "Yes", "extra": "x"}, labels)
    assert not question_correct({"a": "1.50"}, labels)
    assert not question_correct({"a": "1.50", "b": "no"}, labels)
    assert not question_correct({}, [])
