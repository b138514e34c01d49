"""Chunking: exact spans, token bounds, overlap, sections and pages, on ASCII and non-ASCII text."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken

from insight.rag.chunking import Chunk, chunk_document, chunk_text
from insight.rag.loaders import LoadedDocument, PageSpan, load_document
from insight.tokens import count_tokens, get_encoding
from tests.rag.fixtures.make_pdf import make_pdf

WORDS = [
    "the", "results", "patients", "protein", "of", "and", "a", "analysis", "café", "naïve", "é",
    "日本語", "中文文本", "😀", "👩‍🔬", "Ω", "x", "data-driven", "(p<0.05)", "42", "3.14",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", " ", ". ", ", ", "\n", "\n\n", "。", "  ", "\t"]


@pytest.fixture(scope="module")
def encoding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tiktoken.Encoding]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.mktemp("tiktoken")))
        yield get_encoding("cl100k_base")


def random_text(rng: random.Random, n_words: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(n_words))


def check_invariants(doc: LoadedDocument, chunks: list[Chunk], encoding: tiktoken.Encoding, limit: int) -> None:
    """Exact spans, honest token counts within the limit, order, and every word of the text kept."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(doc.text)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.n_tokens == count_tokens(chunk.text, encoding)
        assert 0 < chunk.n_tokens <= limit
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.start < after.start
        assert before.end <= after.end
    missed = [ch for ch, hit in zip(doc.text, covered, strict=True) if not hit and not ch.isspace()]
    assert missed == []


def test_arguments_are_validated(encoding: tiktoken.Encoding) -> None:
    for chunk_tokens, overlap in [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)]:
        with pytest.raises(ValueError):
            chunk_text("some text", encoding, chunk_tokens, overlap)


def test_short_text_is_one_trimmed_chunk(encoding: tiktoken.Encoding) -> None:
    text = "\n\n  Hello world, this is short.  \n"
    [chunk] = chunk_text(text, encoding, 50, 10)
    assert chunk.text == "Hello world, this is short."
    assert (chunk.start, chunk.end) == (4, 31)
    assert (chunk.page, chunk.section, chunk.n_tokens) == (None, None, 7)


def test_blank_text_gives_no_chunks(encoding: tiktoken.Encoding) -> None:
    assert chunk_text("", encoding, 10, 2) == []
    assert chunk_text(" \n\t ", encoding, 10, 2) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_texts_keep_exact_spans(encoding: tiktoken.Encoding, seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng, rng.randint(50, 1500))
    chunk_tokens = rng.choice([4, 7, 16, 50, 128, 256])
    overlap = rng.randint(0, chunk_tokens - 1)
    doc = LoadedDocument(source="r.txt", title="r", text=text, kind="text")
    check_invariants(doc, chunk_document(doc, encoding, chunk_tokens, overlap), encoding, chunk_tokens)


@pytest.mark.parametrize(
    "text",
    [
        "😀" * 300,  # each emoji is several tokens: boundaries inside a character must not be used
        "日本語のテキストには空白がありません。" * 40,
        "é" * 500,
        "👩‍🔬👨‍👩‍👧‍👦" * 60,
        "x" * 3000,
    ],
)
def test_multibyte_and_spaceless_texts(encoding: tiktoken.Encoding, text: str) -> None:
    doc = LoadedDocument(source="m.txt", title="m", text=text, kind="text")
    for chunk_tokens, overlap in [(4, 0), (5, 2), (32, 8)]:
        chunks = chunk_document(doc, encoding, chunk_tokens, overlap)
        check_invariants(doc, chunks, encoding, chunk_tokens)


def test_chunks_are_deterministic(encoding: tiktoken.Encoding) -> None:
    text = random_text(random.Random(99), 2000)
    assert chunk_text(text, encoding, 64, 16) == chunk_text(text, encoding, 64, 16)


def test_overlap_repeats_the_tail_of_the_previous_chunk(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"word{i}" for i in range(600))
    chunks = chunk_text(text, encoding, 50, 10)
    assert len(chunks) > 5
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.start < before.end  # they overlap
        shared = text[after.start : before.end]
        assert 0 < count_tokens(shared, encoding) <= 10 + 1
        assert text[after.start - 1] == " "  # the overlap starts at a word
        assert before.text.endswith(shared)
        assert after.text.startswith(shared)


def test_zero_overlap_tiles_the_text(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"word{i}" for i in range(600))
    chunks = chunk_text(text, encoding, 50, 0)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.start >= before.end
        assert text[before.end : after.start].strip() == ""
    assert " ".join(c.text for c in chunks) == text


def test_windows_end_at_whitespace(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"token{i}abc" for i in range(400))
    for chunk in chunk_text(text, encoding, 30, 5):
        assert chunk.end == len(text) or text[chunk.end] == " "
        assert chunk.start == 0 or text[chunk.start - 1] == " "


def test_paragraph_breaks_are_preferred(encoding: tiktoken.Encoding) -> None:
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(18)) + "." for p in range(12)]
    text = "\n\n".join(paragraphs)
    per_paragraph = count_tokens(paragraphs[0], encoding)
    chunks = chunk_text(text, encoding, int(per_paragraph * 2.5), 0)
    for chunk in chunks:
        assert chunk.text.endswith(".")  # cut after a paragraph, never inside one
        assert chunk.text.count("\n\n") == 1  # two whole paragraphs fit, a third does not


def test_sentence_breaks_are_preferred_within_a_paragraph(encoding: tiktoken.Encoding) -> None:
    sentences = [" ".join(f"s{s}w{i}" for i in range(9)) + "." for s in range(40)]
    text = " ".join(sentences)
    for chunk in chunk_text(text, encoding, 64, 0):
        assert chunk.text.endswith(".")
        assert chunk.text.split(" ")[0].endswith("w0")  # begins at a sentence start


MARKDOWN = "\n".join(
    [
        "Preamble paragraph before any heading.",
        "",
        "# Short",
        "",
        "A one-line section.",
        "",
        "## Long",
        "",
        *(f"Sentence number {i} of the long section has a few words. " for i in range(60)),
        "",
        "## Tail",
        "tail text",
    ]
)


def test_chunks_never_cross_sections(encoding: tiktoken.Encoding) -> None:
    doc = load_document("doc.md", MARKDOWN.encode())
    chunks = chunk_document(doc, encoding, 40, 8)
    check_invariants(doc, chunks, encoding, 40)
    spans = {s.title: s for s in doc.sections}
    for chunk in chunks:
        if chunk.section is None:
            assert chunk.end <= doc.sections[0].start
        else:
            section = spans[chunk.section]
            assert section.start <= chunk.start and chunk.end <= section.end
    by_section = [c.section for c in chunks]
    assert by_section[:2] == [None, "Short"]
    assert by_section.count("Short") == 1 and by_section.count("Tail") == 1  # small section → one chunk
    assert by_section.count("Long") > 3
    short = next(c for c in chunks if c.section == "Short")
    assert short.text == "# Short\n\nA one-line section."
    assert next(c for c in chunks if c.section == "Long").text.startswith("## Long")


def test_html_sections_are_respected(encoding: tiktoken.Encoding) -> None:
    body = "".join(f"<p>Paragraph {i} says something about the topic at hand.</p>" for i in range(30))
    html = f"<title>T</title><h1>One</h1>{body}<h2>Two</h2><p>short</p>".encode()
    doc = load_document("p.html", html)
    chunks = chunk_document(doc, encoding, 32, 4)
    check_invariants(doc, chunks, encoding, 32)
    assert {c.section for c in chunks} == {"One", "Two"}
    two = [c for c in chunks if c.section == "Two"]
    assert [c.text for c in two] == ["Two\n\nshort"]


def test_pdf_chunks_carry_the_page_of_their_start(encoding: tiktoken.Encoding) -> None:
    lines = [[f"Page {p} line {i} has several words on it." for i in range(12)] for p in (1, 2, 3)]
    doc = load_document("r.pdf", make_pdf(lines))
    chunks = chunk_document(doc, encoding, 40, 5)
    check_invariants(doc, chunks, encoding, 40)
    for chunk in chunks:
        expected = next(p.page for p in doc.pages if p.start <= chunk.start < p.end)
        assert chunk.page == expected
        assert chunk.text.startswith(("Page", "line", "has", "several", "words", "on", "it", "1", "2", "3"))
    assert {c.page for c in chunks} == {1, 2, 3}


def test_page_lookup_with_empty_pages(encoding: tiktoken.Encoding) -> None:
    text = "alpha beta\n\n\n\ngamma delta"
    pages = [PageSpan(1, 0, 10), PageSpan(2, 12, 12), PageSpan(3, 14, 25)]
    doc = LoadedDocument(source="x.pdf", title="x", text=text, kind="pdf", pages=pages)
    chunks = chunk_document(doc, encoding, 3, 0)
    assert [(c.text, c.page) for c in chunks] == [("alpha beta", 1), ("gamma delta", 3)]


def test_a_megabyte_chunks_correctly(encoding: tiktoken.Encoding) -> None:
    text = random_text(random.Random(7), 170_000)
    assert len(text.encode()) > 1_000_000
    chunks = chunk_text(text, encoding, 256, 32)
    assert all(text[c.start : c.end] == c.text and c.n_tokens <= 256 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())


def test_record_text_can_be_chunked(encoding: tiktoken.Encoding, tmp_path: Path) -> None:
    chunks = chunk_text("title line\nbody " * 100, encoding, 20, 0)
    assert all(c.section is None and c.page is None for c in chunks)
    assert len(chunks) > 1
