"""Documents from uploaded bytes: text, Markdown, HTML, PDF, CSV, JSON and JSON Lines.

``name`` is only a label: its last path component gives the extension and the fallback title;
nothing is ever opened by name. Encodings, CSV delimiters and JSON/JSONL go through ``insight.reader``,
the reader analysis uses too.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, TypeAlias

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from pypdf import PasswordType, PdfReader
from pypdf.errors import FileNotDecryptedError

from insight.errors import InsightError, InvalidDocument, UnsupportedFileType
from insight.reader import decode_text, load_json, load_jsonl, sniff_delimiter

DocumentKind: TypeAlias = Literal["text", "markdown", "html", "pdf", "csv", "json", "jsonl"]
Scalar: TypeAlias = str | int | float | bool

EXTENSION_KINDS: dict[str, DocumentKind] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(EXTENSION_KINDS)
RECORD_EXTENSIONS: tuple[str, ...] = (".json", ".jsonl")
TEXT_FIELDS = ("text", "content", "body")
ID_FIELDS = ("id", "_id")


@dataclass(frozen=True)
class PageSpan:
    """One PDF page (1-based ``page``) as the character span ``text[start:end]``."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class SectionSpan:
    """A heading (``level`` 1-6) and the span it opens, up to the next heading, in ``text``."""

    title: str
    level: int
    start: int
    end: int


@dataclass(frozen=True)
class LoadedDocument:
    source: str
    title: str
    text: str
    kind: DocumentKind
    pages: list[PageSpan] = field(default_factory=list)
    sections: list[SectionSpan] = field(default_factory=list)
    notes: tuple[str, ...] = ()  # what was repaired on the way (e.g. undecodable bytes replaced)


@dataclass(frozen=True)
class LoadedRecord:
    """One record of a JSON/JSONL corpus (e.g. SciFact ``{"_id", "title", "text", "metadata"}``)."""

    record_id: str
    title: str | None
    text: str
    metadata: dict[str, Scalar]


def _basename(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name


def _stem(name: str) -> str:
    base = _basename(name)
    return PurePosixPath(base).stem or base or "document"


def _kind_of(name: str) -> DocumentKind:
    suffix = PurePosixPath(_basename(name)).suffix.lower()
    kind = EXTENSION_KINDS.get(suffix)
    if kind is None:
        shown = suffix or "(no extension)"
        raise UnsupportedFileType(
            f"{_basename(name) or name!r}: unsupported file type {shown}; supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    return kind


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(name: str, data: bytes) -> tuple[str, tuple[str, ...]]:
    """The reader's decoding: UTF-8 (BOM dropped), UTF-16/32 by a BOM, else Windows-1252/Latin-1 with a note."""
    decoded = decode_text(data, _basename(name) or name)
    return decoded.text, decoded.notes


def _require_text(name: str, text: str) -> None:
    if not text.strip():
        raise InvalidDocument(f"{_basename(name) or name}: no text found")


def _tile(headings: list[tuple[int, int, str]], length: int) -> list[SectionSpan]:
    """Sections from (start, level, title) headings in order: each ends where the next begins."""
    ends = [start for start, _, _ in headings[1:]] + [length]
    return [
        SectionSpan(title=title, level=level, start=start, end=end)
        for (start, level, title), end in zip(headings, ends, strict=False)
    ]


# --- plain text and Markdown -------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_sections(text: str) -> list[SectionSpan]:
    """ATX headings (``#`` … ``######``) outside fenced code; each section runs to the next heading."""
    headings: list[tuple[int, int, str]] = []  # (start, level, title)
    fence: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        fence_match = _FENCE.match(stripped)
        if fence is not None:
            closing = fence_match.group(1) if fence_match else ""
            if closing[:1] == fence[0] and len(closing) >= len(fence):
                fence = None
        elif fence_match:
            fence = fence_match.group(1)
        else:
            heading = _ATX_HEADING.match(stripped)
            if heading and (heading.group(2) or "").strip():
                headings.append((offset, len(heading.group(1)), (heading.group(2) or "").strip()))
        offset += len(line)
    return _tile(headings, len(text))


def _load_text(name: str, data: bytes) -> LoadedDocument:
    text, notes = _decode(name, data)
    text = _normalize_newlines(text)
    _require_text(name, text)
    return LoadedDocument(source=name, title=_stem(name), text=text, kind="text", notes=notes)


def _load_markdown(name: str, data: bytes) -> LoadedDocument:
    text, notes = _decode(name, data)
    text = _normalize_newlines(text)
    _require_text(name, text)
    sections = markdown_sections(text)
    title = sections[0].title if sections else _stem(name)
    return LoadedDocument(source=name, title=title, text=text, kind="markdown", sections=sections, notes=notes)


# --- HTML ----------------------------------------------------------------------------------------

_DROPPED_TAGS = (
    "script", "style", "nav", "noscript", "template", "head", "title", "svg", "iframe", "object",
)  # fmt: skip
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr",
        "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS = ("td", "th")
_WHITESPACE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)


def _decode_html(name: str, data: bytes) -> tuple[str, tuple[str, ...]]:
    """UTF-8, else the charset a ``<meta>`` declares, else the reader's fallback (Windows-1252, noted)."""
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii")), ()
        except (LookupError, UnicodeDecodeError):
            pass
    return _decode(name, data)


class _HtmlText:
    """Flattens a parsed page into paragraphs separated by blank lines, recording headings."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, int]] = []  # (text, heading level or 0)
        self._line: list[str] = []

    def flush(self, level: int = 0) -> None:
        text = _WHITESPACE.sub(" ", "".join(self._line)).strip()
        self._line = []
        if text:
            self.blocks.append((text, level))

    def walk(self, root: Tag) -> None:
        """Depth-first over ``root`` with an explicit stack (deeply nested pages cannot overflow)."""
        stack: list[tuple[PageElement, int]] = [(child, -1) for child in reversed(list(root.children))]
        while stack:
            node, closing_level = stack.pop()
            if closing_level >= 0:  # leaving a block (0) or a heading (its level)
                self.flush(closing_level)
            elif isinstance(node, PreformattedString):  # comments, doctype, CDATA, processing instr.
                continue
            elif isinstance(node, NavigableString):
                self._line.append(str(node))
            elif isinstance(node, Tag):
                stack.extend(self._enter(node))

    def _enter(self, tag: Tag) -> list[tuple[PageElement, int]]:
        """Handle the opening of ``tag``; return what to push (reversed children, closing marker)."""
        name = tag.name.lower()
        children: list[tuple[PageElement, int]] = [(child, -1) for child in reversed(list(tag.children))]
        if name in _HEADING_TAGS:
            self.flush()
            return [(tag, _HEADING_TAGS[name]), *children]
        if name == "br":
            self._line.append("\n")
            return []
        if name == "pre":
            self.flush()
            text = _normalize_newlines(tag.get_text()).strip("\n")
            if text.strip():
                self.blocks.append((text, 0))
            return []
        if name == "tr":
            self.flush()
            cells = [_WHITESPACE.sub(" ", cell.get_text(" ")).strip() for cell in tag.find_all(_CELL_TAGS)]
            row = " | ".join(cell for cell in cells if cell)
            if row:
                self.blocks.append((row, 0))
            return []
        if name in _BLOCK_TAGS:
            self.flush()
            return [(tag, 0), *children]
        return children


def _load_html(name: str, data: bytes) -> LoadedDocument:
    markup, notes = _decode_html(name, data)
    markup = _XML_DECLARATION.sub("", markup, count=1)  # XHTML: avoid bs4's XML-as-HTML warning
    if "<" not in markup:
        markup = "<body>" + markup  # markup without tags would make bs4 warn it "looks like a path"
    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    page_title = _WHITESPACE.sub(" ", title_tag.get_text()).strip() if title_tag else ""
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    flattener = _HtmlText()
    flattener.walk(soup)
    flattener.flush()

    parts: list[str] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for block, level in flattener.blocks:
        if parts:
            parts.append("\n\n")
            offset += 2
        if level:
            headings.append((offset, level, block))
        parts.append(block)
        offset += len(block)
    text = "".join(parts)
    _require_text(name, text)
    sections = _tile(headings, len(text))
    first_h1 = next((s.title for s in sections if s.level == 1), "")
    title = page_title or first_h1 or _stem(name)
    return LoadedDocument(source=name, title=title, text=text, kind="html", sections=sections, notes=notes)


# --- PDF -----------------------------------------------------------------------------------------


def _load_pdf(name: str, data: bytes) -> LoadedDocument:
    label = _basename(name) or name
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # owner-password-only files open with an empty password
            except Exception:
                opened = PasswordType.NOT_DECRYPTED
            if opened == PasswordType.NOT_DECRYPTED:
                raise InvalidDocument(f"{label}: encrypted PDF (a password is required to read it)")
        page_texts = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        meta_title = metadata.title if metadata is not None else None
    except InsightError:
        raise
    except FileNotDecryptedError as exc:
        raise InvalidDocument(f"{label}: encrypted PDF ({exc})") from exc
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError, …)
        raise InvalidDocument(f"{label}: not a readable PDF ({type(exc).__name__}: {exc})") from exc

    parts: list[str] = []
    pages: list[PageSpan] = []
    offset = 0
    for number, raw in enumerate(page_texts, start=1):
        page_text = _no_surrogates(_normalize_newlines(raw)).strip()
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        pages.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        offset += len(page_text)
    text = "".join(parts)
    _require_text(name, text)
    title = _no_surrogates(meta_title.strip()) if isinstance(meta_title, str) and meta_title.strip() else _stem(name)
    return LoadedDocument(source=name, title=title, text=text, kind="pdf", pages=pages)


# --- CSV -----------------------------------------------------------------------------------------


def _load_csv(name: str, data: bytes) -> LoadedDocument:
    decoded, notes = _decode(name, data)
    label = _basename(name) or name
    reader = csv.reader(io.StringIO(decoded, newline=""), delimiter=sniff_delimiter(decoded))
    lines: list[str] = []
    header: list[str] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if not header:
                header = [cell.strip() or f"column {i + 1}" for i, cell in enumerate(row)]
                continue
            pairs = [
                f"{header[i] if i < len(header) else f'column {i + 1}'}: {_WHITESPACE.sub(' ', cell).strip()}"
                for i, cell in enumerate(row)
                if cell.strip()
            ]
            lines.append("; ".join(pairs))
    except csv.Error as exc:
        raise InvalidDocument(f"{label}: line {reader.line_num}: malformed CSV ({exc})") from exc
    text = "\n".join(lines)
    _require_text(name, text)
    return LoadedDocument(source=name, title=_stem(name), text=text, kind="csv", notes=notes)


# --- JSON and JSON Lines -------------------------------------------------------------------------


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(text: str) -> str:
    """JSON escapes can spell lone surrogates, which no UTF-8 consumer accepts: use U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text_field(record: dict[str, Any]) -> str | None:
    for key in TEXT_FIELDS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _record_text(record: Any) -> str:
    """``title`` line + text/content/body for a record that has one; else its compact JSON."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        body = _text_field(record)
        if body is None and any(isinstance(record.get(key), str) for key in TEXT_FIELDS):
            body = ""  # a text field that is blank: the record has no text, not JSON to show
        if body is not None:
            title = record.get("title")
            if isinstance(title, str) and title.strip():
                return f"{title.strip()}\n{body}".rstrip()
            return body
    return _compact(record)


def _json_values(name: str, data: bytes, kind: DocumentKind) -> Iterator[tuple[str, Any]]:
    """(where, value) for each record: JSON gives a list's items or the one value, JSONL its lines."""
    label = _basename(name) or name
    if kind == "json":
        value = load_json(data, label)
        if isinstance(value, list):
            yield from ((f"item {i}", item) for i, item in enumerate(value))
        else:
            yield "the document", value
        return
    yield from ((f"line {number}", value) for number, value in load_jsonl(data, label))


def _load_json(name: str, data: bytes, kind: DocumentKind) -> LoadedDocument:
    records = [value for _, value in _json_values(name, data, kind)]
    texts = [text for text in map(_record_text, records) if text.strip()]
    text = _no_surrogates("\n\n".join(texts))
    _require_text(name, text)
    title = _stem(name)
    if len(records) == 1 and isinstance(records[0], dict):
        single_title = records[0].get("title")
        if isinstance(single_title, str) and single_title.strip():
            title = _no_surrogates(single_title.strip())
    return LoadedDocument(source=name, title=title, text=text, kind=kind)


def _scalar_fields(values: dict[str, Any], skip: frozenset[str]) -> dict[str, Scalar]:
    return {
        key: value for key, value in values.items() if key not in skip and isinstance(value, str | int | float | bool)
    }


_RECORD_CORE_FIELDS = frozenset({*ID_FIELDS, "title", *TEXT_FIELDS, "metadata"})


def load_records(name: str, data: bytes) -> list[LoadedRecord]:
    """Each JSON/JSONL record that carries an ``id``/``_id`` as a ``LoadedRecord``.

    ``metadata`` holds the record's other scalar fields plus the scalar fields of a nested
    ``metadata`` object (nested values win). Raises ``InvalidDocument`` for a record without an
    id or any text, for a duplicate id and for malformed JSON.
    """
    kind = _kind_of(name)
    label = _basename(name) or name
    if kind not in ("json", "jsonl"):
        raise UnsupportedFileType(f"{label}: records are read from {' or '.join(RECORD_EXTENSIONS)} files only")
    records: list[LoadedRecord] = []
    seen: set[str] = set()
    for where, value in _json_values(name, data, kind):
        if not isinstance(value, dict):
            raise InvalidDocument(f"{label}: {where} is not a JSON object")
        raw_id = next((value[key] for key in ID_FIELDS if key in value), None)
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id).strip() == "":
            raise InvalidDocument(f"{label}: {where} has no usable 'id' or '_id' field")
        record_id = str(raw_id).strip()
        if record_id in seen:
            raise InvalidDocument(f"{label}: {where} repeats the id {record_id!r}")
        seen.add(record_id)
        title_value = value.get("title")
        title = title_value.strip() if isinstance(title_value, str) and title_value.strip() else None
        text = _text_field(value) or title
        if text is None:
            raise InvalidDocument(f"{label}: {where} (id {record_id!r}) has no text")
        metadata = _scalar_fields(value, _RECORD_CORE_FIELDS)
        nested = value.get("metadata")
        if isinstance(nested, dict):
            metadata.update(_scalar_fields(nested, frozenset()))
        records.append(
            LoadedRecord(
                record_id=_no_surrogates(record_id),
                title=_no_surrogates(title) if title is not None else None,
                text=_no_surrogates(text),
                metadata={k: _no_surrogates(v) if isinstance(v, str) else v for k, v in metadata.items()},
            )
        )
    if not records:
        raise InvalidDocument(f"{label}: no records found")
    return records


# --- dispatch ------------------------------------------------------------------------------------

_LOADERS: dict[DocumentKind, Callable[[str, bytes], LoadedDocument]] = {
    "text": _load_text,
    "markdown": _load_markdown,
    "html": _load_html,
    "pdf": _load_pdf,
    "csv": _load_csv,
    "json": lambda name, data: _load_json(name, data, "json"),
    "jsonl": lambda name, data: _load_json(name, data, "jsonl"),
}


def load_document(name: str, data: bytes) -> LoadedDocument:
    """Extract ``data``'s text by the extension of ``name`` (a label, never opened as a path).

    Raises ``UnsupportedFileType`` for an unknown extension and ``InvalidDocument`` for bytes
    that cannot be read as that type or that hold no text.
    """
    return _LOADERS[_kind_of(name)](name, data)
