"""Loaders: each file type, its spans and titles, and every way a document can be unreadable."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfWriter

from insight.errors import InsightError, InvalidDocument, UnsupportedFileType
from insight.rag.loaders import (
    SUPPORTED_EXTENSIONS,
    LoadedDocument,
    load_document,
    load_records,
)
from tests.rag.fixtures.make_pdf import make_pdf

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _assert_spans_inside(doc: LoadedDocument) -> None:
    for span in [*doc.pages, *doc.sections]:
        assert 0 <= span.start <= span.end <= len(doc.text)


# --- dispatch and names ------------------------------------------------------------------------


def test_supported_extensions() -> None:
    assert set(SUPPORTED_EXTENSIONS) == {
        ".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".csv", ".json", ".jsonl",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["report.docx", "archive.tar.gz", "README", "", "notes.txt.exe"])
def test_unknown_extension_lists_the_supported_ones(name: str) -> None:
    with pytest.raises(UnsupportedFileType) as info:
        load_document(name, b"some text")
    assert info.value.code == "unsupported_file_type"
    assert isinstance(info.value, InsightError)
    for extension in SUPPORTED_EXTENSIONS:
        assert extension in info.value.message


def test_extension_is_case_insensitive() -> None:
    doc = load_document("NOTES.TXT", b"hello")
    assert doc.kind == "text"
    assert doc.title == "NOTES"


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("../../etc/passwd.txt", "passwd"),
        ("/abs/path/to/report.txt", "report"),
        ("C:\\Users\\me\\secret.txt", "secret"),
        ("dir/.hidden.txt", ".hidden"),
    ],
)
def test_name_is_only_a_label(name: str, title: str) -> None:
    doc = load_document(name, b"plain words")
    assert doc.source == name
    assert doc.title == title
    assert doc.text == "plain words"


def test_path_like_name_never_opens_a_file(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("content on disk")
    assert load_document(str(real), b"uploaded bytes").text == "uploaded bytes"


# --- plain text --------------------------------------------------------------------------------


def test_text_newlines_are_normalized_and_bom_dropped() -> None:
    doc = load_document("a.txt", "\ufeffline one\r\nline two\rline three\n".encode())
    assert doc.text == "line one\nline two\nline three\n"
    assert (doc.kind, doc.pages, doc.sections, doc.notes) == ("text", [], [], ())


def test_text_that_is_not_utf8_is_read_as_windows_1252_and_noted() -> None:
    doc = load_document("latin.txt", "café – 5 €".encode("cp1252"))
    assert doc.text == "café – 5 €"
    assert doc.notes == ("not UTF-8 (byte 3): read as Windows-1252 (cp1252)",)


def test_utf16_text_with_a_bom_is_read() -> None:
    doc = load_document("wide.txt", "naïve text".encode("utf-16"))
    assert (doc.text, doc.notes) == ("naïve text", ())


def test_binary_data_is_not_text() -> None:
    with pytest.raises(InvalidDocument, match=r"blob\.txt: binary data, not text"):
        load_document("blob.txt", b"\x89PNG\r\n\x1a\n\x00\x00")


def test_html_without_utf8_or_a_charset_falls_back_to_windows_1252() -> None:
    doc = load_document("old.html", "<p>café</p>".encode("cp1252"))
    assert doc.text == "café"
    assert doc.notes == ("not UTF-8 (byte 6): read as Windows-1252 (cp1252)",)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.txt", b""),
        ("blank.txt", b"  \n\t \r\n"),
        ("blank.md", b"\n\n"),
        ("blank.csv", b""),
        ("blank.html", b"<html><head><title>t</title></head><body> <script>x()</script></body></html>"),
        ("e.json", b"[]"),
        ("w.json", b'{"text": "   "}'),
        ("e.jsonl", b"\n\n"),
    ],
)
def test_empty_documents_are_invalid(name: str, data: bytes) -> None:
    with pytest.raises(InvalidDocument, match="no text found") as info:
        load_document(name, data)
    assert info.value.code == "invalid_document"
    assert info.value.message == f"{name}: no text found"


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_title_and_sections() -> None:
    doc = load_document("docs/guide.md", _fixture("guide.md"))
    assert doc.kind == "markdown"
    assert doc.title == "Field Guide"
    assert [(s.title, s.level) for s in doc.sections] == [
        ("Field Guide", 1),
        ("Install", 2),
        ("Usage", 2),  # closing hashes are not part of the title
        ("Tips", 3),
    ]  # the "# not a heading" line inside the fenced block is skipped
    _assert_spans_inside(doc)
    for section in doc.sections:
        body = doc.text[section.start : section.end]
        assert body.lstrip("#").strip().startswith(section.title)
    # sections tile the text from the first heading to the end
    assert doc.text[: doc.sections[0].start] == "Front matter line before any heading.\n\n"
    for before, after in zip(doc.sections, doc.sections[1:], strict=False):
        assert before.end == after.start
    assert doc.sections[-1].end == len(doc.text)
    assert "pip install -e ." in doc.text[doc.sections[1].start : doc.sections[1].end]


def test_markdown_without_heading_uses_the_file_stem() -> None:
    doc = load_document("notes.markdown", b"just text\n#hashtag is not a heading\n")
    assert doc.title == "notes"
    assert doc.sections == []


# --- HTML --------------------------------------------------------------------------------------


def test_html_text_title_and_sections() -> None:
    doc = load_document("page.html", _fixture("page.html"))
    assert doc.kind == "html"
    assert doc.title == "Quarterly Report"
    for unwanted in ("tracking", "nor this", "color", "Home", "About", "comment", "DOCTYPE"):
        assert unwanted not in doc.text
    assert "Revenue grew 12% in the third quarter." in doc.text
    assert "Café sales should recover." in doc.text
    assert "Region | Change" in doc.text
    assert "North | +15%" in doc.text
    assert [(s.title, s.level) for s in doc.sections] == [
        ("Revenue & Costs", 1),
        ("Regions", 2),
        ("Outlook", 2),
    ]
    _assert_spans_inside(doc)
    for section in doc.sections:
        assert doc.text[section.start :].startswith(section.title)
    assert doc.sections[-1].end == len(doc.text)
    assert doc.text.startswith("Revenue & Costs\n\nRevenue grew")


def test_html_title_falls_back_to_h1_then_stem() -> None:
    assert load_document("a.htm", b"<h2>Minor</h2><h1>Main</h1><p>x</p>").title == "Main"
    assert load_document("dir/plain.html", b"<p>no headings</p>").title == "plain"


def test_html_edge_markup_parses_without_warnings() -> None:
    # filterwarnings=error turns bs4's "looks like a filename/URL" and XML-as-HTML warnings into failures
    assert load_document("a.html", b"index.html").text == "index.html"
    assert load_document("b.html", b"https://example.org").text == "https://example.org"
    xhtml = b'<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>'
    assert load_document("c.xhtml.html", xhtml).text == "x"


def test_html_declared_charset_is_used() -> None:
    data = '<meta charset="iso-8859-1"><p>café</p>'.encode("latin-1")
    doc = load_document("l.html", data)
    assert doc.text == "café"
    assert doc.notes == ()


def test_deeply_nested_html_is_read() -> None:
    data = b"<p>top</p>" + b"<div><span>" * 3000 + b"deep" + b"</span></div>" * 3000 + b"<h2>After</h2>"
    doc = load_document("deep.html", data)
    assert doc.text == "top\n\ndeep\n\nAfter"
    assert [s.title for s in doc.sections] == ["After"]


# --- PDF ---------------------------------------------------------------------------------------


def test_pdf_pages_spans_and_metadata_title() -> None:
    data = make_pdf([["First page, line one.", "Line two."], ["Second page text."]], title="Annual Review")
    doc = load_document("review.pdf", data)
    assert doc.kind == "pdf"
    assert doc.title == "Annual Review"
    assert [p.page for p in doc.pages] == [1, 2]
    assert doc.text[doc.pages[0].start : doc.pages[0].end] == "First page, line one.\nLine two."
    assert doc.text[doc.pages[1].start : doc.pages[1].end] == "Second page text."
    assert doc.pages[0].start == 0
    assert doc.pages[1].end == len(doc.text)
    assert doc.pages[0].end < doc.pages[1].start
    assert doc.sections == []


def test_pdf_without_title_uses_the_stem_and_keeps_empty_pages() -> None:
    doc = load_document("scan.pdf", make_pdf([["text"], [], ["more"]]))
    assert doc.title == "scan"
    assert [(p.page, doc.text[p.start : p.end]) for p in doc.pages] == [(1, "text"), (2, ""), (3, "more")]


@pytest.mark.parametrize(
    "data",
    [b"not a pdf at all", b"%PDF-1.4\n garbage \x00\x01", make_pdf([["truncated"]])[:60], b"%PDF-"],
)
def test_corrupt_pdf_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidDocument, match=r"^bad\.pdf: not a readable PDF \(") as info:
        load_document("uploads/bad.pdf", data)
    assert info.value.code == "invalid_document"


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf([["secret text"]])))
    writer.encrypt(user_password=user_password, owner_password="owner-pw")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf_is_invalid() -> None:
    with pytest.raises(InvalidDocument, match=r"locked\.pdf: encrypted PDF"):
        load_document("locked.pdf", _encrypted("user-pw"))


def test_pdf_with_only_an_owner_password_is_readable() -> None:
    # restrictions-only encryption: the empty user password opens it, as in any PDF viewer
    assert load_document("restricted.pdf", _encrypted("")).text == "secret text"


def test_pdf_without_text_is_invalid() -> None:
    with pytest.raises(InvalidDocument, match=r"images\.pdf: no text found"):
        load_document("images.pdf", make_pdf([[], []]))


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_become_labelled_lines_with_sniffed_delimiter() -> None:
    doc = load_document("people.csv", _fixture("people.csv"))
    assert doc.kind == "csv"
    assert doc.title == "people"
    assert doc.text.splitlines() == [
        "name: Ada; city: London; note: likes; semicolons",
        "name: Grace; note: admiral",  # empty values are left out, blank rows skipped
        "name: Linus; city: Helsinki; note: kernel",
    ]


def test_csv_comma_and_ragged_rows() -> None:
    data = b'id,text\n1,"hello, world"\n2,two,extra\n3\n'
    assert load_document("t.csv", data).text.splitlines() == [
        "id: 1; text: hello, world",
        "id: 2; text: two; column 3: extra",
        "id: 3",
    ]


def test_csv_header_only_is_invalid() -> None:
    with pytest.raises(InvalidDocument, match="no text found"):
        load_document("h.csv", b"a,b,c\n")


def test_csv_in_windows_1252_is_read_and_noted() -> None:
    doc = load_document("l.csv", "name\ncafé\n".encode("cp1252"))
    assert doc.text == "name: café"
    assert doc.notes == ("not UTF-8 (byte 8): read as Windows-1252 (cp1252)",)


def test_csv_tab_delimited_is_sniffed() -> None:
    doc = load_document("t.csv", b"name\tcity\nAda\tLondon, UK\n")
    assert doc.text == "name: Ada; city: London, UK"


# --- JSON and JSONL ----------------------------------------------------------------------------


def test_json_list_of_records_with_text_fields() -> None:
    data = json.dumps(
        [
            {"title": "One", "text": "first body"},
            {"content": "second body"},
            {"body": "third body", "title": "  "},
            {"id": 4, "score": 0.5},
        ]
    ).encode()
    doc = load_document("records.json", data)
    assert doc.kind == "json"
    assert doc.title == "records"
    assert doc.text.split("\n\n") == ["One\nfirst body", "second body", "third body", '{"id":4,"score":0.5}']


def test_json_single_object_uses_its_title() -> None:
    doc = load_document("one.json", b'{"title": "Solo", "body": "the body", "tags": ["x"]}')
    assert doc.title == "Solo"
    assert doc.text == "Solo\nthe body"


def test_json_object_without_text_field_is_compact_json() -> None:
    doc = load_document("cfg.json", '{"name": "café", "n": 1}'.encode())
    assert doc.text == '{"name":"café","n":1}'


def test_malformed_json_names_the_line() -> None:
    with pytest.raises(InvalidDocument, match=r"bad\.json: invalid JSON at line 3, column \d+"):
        load_document("bad.json", b'[\n{"text": "a"},\n{"text": }\n]')


def test_malformed_jsonl_names_the_line() -> None:
    data = b'{"text": "a"}\n\n{"text": "b"\n'
    with pytest.raises(InvalidDocument, match=r"bad\.jsonl: invalid JSON at line 3"):
        load_document("bad.jsonl", data)


def test_json_that_is_not_utf8_is_invalid() -> None:
    with pytest.raises(InvalidDocument, match="not valid UTF-8"):
        load_document("x.json", '{"text": "café"}'.encode("latin-1"))


def test_jsonl_many_records_stay_one_document() -> None:
    doc = load_document("corpus.jsonl", _fixture("scifact_corpus.jsonl"))
    assert doc.kind == "jsonl"
    assert doc.title == "corpus"
    assert len(doc.text.split("\n\n")) == 3
    assert doc.text.startswith("Microstructural development of human newborn cerebral white matter\nAlterations")


def test_lone_surrogates_from_json_escapes_are_replaced() -> None:
    doc = load_document("s.json", b'{"text": "bad \\ud800 char"}')
    assert doc.text == "bad \ufffd char"
    doc.text.encode("utf-8")  # strict: must not raise


# --- records -----------------------------------------------------------------------------------


def test_load_records_reads_the_scifact_corpus_format() -> None:
    records = load_records("scifact/corpus.jsonl", _fixture("scifact_corpus.jsonl"))
    assert [r.record_id for r in records] == ["4983", "5836", "7912"]
    first = records[0]
    assert first.title == "Microstructural development of human newborn cerebral white matter"
    assert first.text.startswith("Alterations of the architecture")
    assert first.metadata == {}
    assert records[1].metadata == {"year": 2013, "journal": "J Clin Invest"}  # lists are not scalars
    assert records[2].title is None
    assert records[2].metadata == {"source": "hand-made"}


def test_load_records_from_a_json_list_with_id_and_scalar_fields() -> None:
    data = json.dumps(
        [
            {"id": 7, "content": "seven", "lang": "en", "score": 1.5, "ok": True, "tags": ["a"], "n": None},
            {"id": "b", "title": "Only a title"},
        ]
    ).encode()
    records = load_records("r.json", data)
    assert records[0].record_id == "7"
    assert records[0].text == "seven"
    assert records[0].metadata == {"lang": "en", "score": 1.5, "ok": True}
    assert (records[1].title, records[1].text) == ("Only a title", "Only a title")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"title": "t", "text": "no id"}', "no usable 'id'"),
        (b'{"id": "", "text": "empty id"}', "no usable 'id'"),
        (b'{"id": true, "text": "bool id"}', "no usable 'id'"),
        (b'{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}', "repeats the id '1'"),
        (b'{"id": 1, "metadata": {}}', "has no text"),
        (b"[1, 2]\n", None),
        (b"\n", "no records found"),
    ],
)
def test_load_records_rejects_bad_records(data: bytes, problem: str | None) -> None:
    with pytest.raises(InvalidDocument) as info:
        load_records("c.jsonl", data)
    assert "c.jsonl" in info.value.message
    if problem is not None:
        assert problem in info.value.message


def test_load_records_only_reads_json_files() -> None:
    with pytest.raises(UnsupportedFileType, match=r"\.json or \.jsonl"):
        load_records("c.csv", b"id,text\n1,a\n")
    with pytest.raises(UnsupportedFileType):
        load_records("c.xml", b"<a/>")
