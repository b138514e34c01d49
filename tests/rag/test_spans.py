"""Snapping a model's phrase to the best-matching run of words of the offered sentences."""

from __future__ import annotations

import pytest

from insight.rag.spans import snap

SENTENCES = [
    "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third Super Bowl title.",
    "The game was played on February 7, 2016, at Levi's Stadium in Santa Clara, California.",
]


def test_an_exact_copy_is_its_own_span() -> None:
    span = snap("Levi's Stadium", SENTENCES)
    assert span is not None and span.text == "Levi's Stadium" and span.f1 == 1.0
    assert SENTENCES[span.sentence][span.start : span.end] == span.text


def test_case_articles_and_punctuation_do_not_matter_and_the_span_is_verbatim() -> None:
    span = snap("the denver broncos.", SENTENCES)
    assert span is not None and (span.sentence, span.text, span.f1) == (0, "Denver Broncos", 1.0)


def test_a_light_rephrasing_snaps_to_the_words_of_the_sentence() -> None:
    span = snap("on February 7 2016", SENTENCES)
    assert span is not None and span.text == "on February 7, 2016" and span.sentence == 1


def test_a_phrase_from_another_sentence_than_the_one_named_is_found_there() -> None:
    span = snap("Santa Clara, California", SENTENCES, preferred=0)
    assert span is not None and span.sentence == 1 and span.text == "Santa Clara, California"


def test_ties_go_to_the_named_sentence_then_the_shorter_run() -> None:
    sentences = ["It rained in Paris.", "Paris is in France."]
    assert snap("Paris", sentences).sentence == 0  # type: ignore[union-attr]
    assert snap("Paris", sentences, preferred=1).sentence == 1  # type: ignore[union-attr]
    partial = snap("Paris in spring", sentences)
    assert partial is not None and partial.text == "in Paris" and partial.f1 == pytest.approx(0.8)


def test_no_overlap_or_no_word_snaps_nothing() -> None:
    assert snap("Tokyo", SENTENCES) is None
    assert snap("the", SENTENCES) is None
    assert snap("", SENTENCES) is None


def test_the_phrases_numbers_and_names_stay_in_the_run() -> None:
    sentence = ["Up to 20 manual dashboard refreshes are allowed per day for each workspace."]
    loose = snap("20 refreshes per day", sentence)
    assert loose is not None and "20" not in loose.text  # the closest run by F1 alone drops the number
    kept = snap("20 refreshes per day", sentence, required=["20"])
    assert kept is not None and kept.text == "20 manual dashboard refreshes are allowed per day"
    assert snap("20 refreshes", sentence, required=["Tokyo"]) is not None  # a name the sentence lacks binds nothing
