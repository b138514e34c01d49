"""Token-aware chunking whose chunks are exact character spans of the document's text.

Each region (a Markdown/HTML section, or the whole text) is encoded once; token boundaries are
mapped to character offsets (a boundary that falls inside a multibyte character is never used).
A region that fits the budget is one chunk; a longer one is cut into windows of at most
``chunk_tokens`` tokens, ending preferably at a paragraph break, else a sentence end or line
break, else whitespace, found in the window's second half; each next window starts
``overlap_tokens`` back, moved forward to a word start. Chunks never cross a section boundary
and carry their exact token count (the chunk's own text re-encoded).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import tiktoken

from insight.rag.loaders import LoadedDocument, PageSpan, SectionSpan

PARAGRAPH_BREAK = "\n\n"
SENTENCE_BREAKS = (". ", "! ", "? ", ".\n", "!\n", "?\n", "。", "！", "？", "\n")
_WORD_START_SEARCH = 32  # boundaries scanned forward for a word start when placing an overlap
_NOT_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class Chunk:
    """``text == document.text[start:end]``; ``page`` is the page holding ``start`` (PDF only)."""

    index: int
    text: str
    start: int
    end: int
    page: int | None
    section: str | None
    n_tokens: int


def _validate(chunk_tokens: int, overlap_tokens: int) -> None:
    if chunk_tokens <= 0:
        raise ValueError(f"chunk_tokens must be > 0, got {chunk_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must be >= 0, got {overlap_tokens}")
    if overlap_tokens >= chunk_tokens:
        raise ValueError(f"overlap_tokens ({overlap_tokens}) must be < chunk_tokens ({chunk_tokens})")


def _regions(text: str, sections: list[SectionSpan]) -> list[tuple[int, int, str | None]]:
    """Sections in order, plus the untitled text before, between or after them."""
    regions: list[tuple[int, int, str | None]] = []
    position = 0
    for section in sorted(sections, key=lambda s: (s.start, s.end)):
        start, end = max(section.start, position), min(section.end, len(text))
        if start >= end:
            continue
        if start > position:
            regions.append((position, start, None))
        regions.append((start, end, section.title))
        position = end
    if position < len(text):
        regions.append((position, len(text), None))
    return regions


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading/trailing whitespace (empty when it is all whitespace)."""
    match = _NOT_SPACE.search(text, start, end)
    if match is None:
        return start, start
    first = match.start()
    last = end
    while last > first and text[last - 1].isspace():
        last -= 1
    return first, last


def _first_text(text: str, position: int) -> int:
    """Offset of the first non-whitespace character at or after ``position`` (``len`` if none)."""
    match = _NOT_SPACE.search(text, position)
    return match.start() if match is not None else len(text)


def _boundaries(segment: str, tokens: list[int], encoding: tiktoken.Encoding) -> tuple[list[int], list[int]]:
    """Token boundaries that are character boundaries: (token indices, character offsets)."""
    byte_offsets = list(accumulate((len(b) for b in encoding.decode_tokens_bytes(tokens)), initial=0))
    if segment.isascii():
        return list(range(len(tokens) + 1)), byte_offsets
    # Lone surrogates: tiktoken encodes each as U+FFFD (3 bytes), the same width as surrogatepass.
    data = segment.encode("utf-8", "surrogatepass")
    if byte_offsets[-1] != len(data):
        raise ValueError("tokens do not cover the text byte for byte")
    raw = np.frombuffer(data, dtype=np.uint8)
    is_start = (raw & 0xC0) != 0x80
    chars_before = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(is_start, dtype=np.int64)))
    offsets = np.asarray(byte_offsets, dtype=np.int64)
    valid = np.ones(len(offsets), dtype=bool)
    inner = offsets < len(data)
    valid[inner] = is_start[offsets[inner]]
    token_index = np.flatnonzero(valid)
    return token_index.tolist(), chars_before[offsets[valid]].tolist()


def _break_point(segment: str, low: int, high: int) -> int | None:
    """Best cut in ``segment[low:high]``: after a paragraph, after a sentence, before a space."""
    window = segment[low:high]
    found = window.rfind(PARAGRAPH_BREAK)
    if found >= 0:
        return low + found + len(PARAGRAPH_BREAK)
    best = max((window.rfind(mark) + len(mark) for mark in SENTENCE_BREAKS if mark in window), default=-1)
    if best > 0:
        return low + best
    space = max(window.rfind(" "), window.rfind("\t"))
    if space > 0:
        return low + space
    return None


def _window_chunks(
    segment: str, encoding: tiktoken.Encoding, chunk_tokens: int, overlap_tokens: int
) -> list[tuple[int, int, int]]:
    """(start, end, n_tokens) spans, relative to ``segment``, covering all its text."""
    tokens = encoding.encode_ordinary(segment)
    if len(tokens) <= chunk_tokens:
        start, end = _trim(segment, 0, len(segment))
        return [(start, end, len(tokens))] if end > start else []
    token_at, char_at = _boundaries(segment, tokens, encoding)
    last = len(token_at) - 1
    spans: list[tuple[int, int, int]] = []
    i = 0
    while True:
        first_token = token_at[i]
        if token_at[last] - first_token <= chunk_tokens:
            j = last
        else:
            j = max(i + 1, bisect_right(token_at, first_token + chunk_tokens) - 1)
            low_token = first_token + max(chunk_tokens // 2, overlap_tokens + 1)
            low = char_at[min(j, bisect_left(token_at, low_token))]
            cut = _break_point(segment, low, char_at[j]) if low < char_at[j] else None
            if cut is not None and cut > char_at[i]:
                j = max(i + 1, bisect_right(char_at, cut) - 1)  # the last boundary at or before the cut
        while True:  # the chunk's own encoding can differ from the region's at its edges
            start, end = _trim(segment, char_at[i], char_at[j])
            n_tokens = len(encoding.encode_ordinary(segment[start:end])) if end > start else 0
            if n_tokens <= chunk_tokens or j == i + 1:
                break
            excess = n_tokens - chunk_tokens
            j = max(i + 1, min(j - 1, bisect_right(token_at, token_at[j] - excess) - 1))
        if end > start:
            spans.append((start, end, n_tokens))
        if j == last:
            return spans
        following = max(i + 1, bisect_left(token_at, token_at[j] - overlap_tokens))
        if overlap_tokens:
            for k in range(following, min(j, following + _WORD_START_SEARCH) + 1):
                offset = char_at[k]
                if segment[offset].isspace() or segment[offset - 1].isspace():
                    following = k
                    break
        # Whitespace is trimmed off chunk edges: the next chunk must begin past this one's start.
        while following < j and _first_text(segment, char_at[following]) <= start:
            following += 1
        i = following


def _page_of(pages: list[PageSpan], starts: list[int], position: int) -> int | None:
    found = bisect_right(starts, position) - 1
    return pages[found].page if found >= 0 else None


def chunk_document(
    doc: LoadedDocument, encoding: tiktoken.Encoding, chunk_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``chunk_tokens`` tokens; deterministic.

    The bound holds whenever ``chunk_tokens`` >= 4 (one character can need up to 4 tokens).
    Raises ``ValueError`` unless ``0 <= overlap_tokens < chunk_tokens``.
    """
    _validate(chunk_tokens, overlap_tokens)
    text = doc.text
    pages = sorted(doc.pages, key=lambda p: p.start)
    page_starts = [p.start for p in pages]
    chunks: list[Chunk] = []
    for region_start, region_end, section in _regions(text, doc.sections):
        start, end = _trim(text, region_start, region_end)
        if end <= start:
            continue
        for span_start, span_end, n_tokens in _window_chunks(text[start:end], encoding, chunk_tokens, overlap_tokens):
            absolute_start, absolute_end = start + span_start, start + span_end
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=text[absolute_start:absolute_end],
                    start=absolute_start,
                    end=absolute_end,
                    page=_page_of(pages, page_starts, absolute_start),
                    section=section,
                    n_tokens=n_tokens,
                )
            )
    return chunks


def chunk_text(text: str, encoding: tiktoken.Encoding, chunk_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """Chunk plain text (e.g. one ``LoadedRecord.text``) with no pages or sections."""
    document = LoadedDocument(source="", title="", text=text, kind="text")
    return chunk_document(document, encoding, chunk_tokens, overlap_tokens)
