"""DABench's closed-form rule: a question is correct when every labelled ``@name[value]`` pair matches.

A labelled number matches when the answer, rounded to the label's own decimal places, equals it (the
label is written at the requested rounding: ``"0.0"``, ``"37.30"``, ``"364"``); text matches after
trimming quotes and spaces, case-insensitively.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _text(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().strip("\"'").strip()).lower()


def _decimals(label: str) -> int:
    mantissa = label.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def value_matches(answer: str | None, label: str) -> bool:
    if answer is None:
        return False
    wanted, given = label.strip().strip("\"'").strip(), answer.strip().strip("\"'").strip()
    if _NUMBER.match(wanted) and _NUMBER.match(given):
        digits = _decimals(wanted)
        got = float(given)
        if not math.isfinite(got):
            return False
        return math.isclose(round(got, digits), float(wanted), rel_tol=0.0, abs_tol=10 ** (-digits) / 100)
    return _text(given) == _text(wanted)


def question_correct(answers: Mapping[str, str], labels: Sequence[Sequence[str]]) -> bool:
    """Every labelled pair present among ``answers`` (the formatted named values) and matching."""
    return bool(labels) and all(value_matches(answers.get(name), value) for name, value in labels)
