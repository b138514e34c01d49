"""One reader: bytes and folders → text, JSON values and tables, for ingestion, analysis, the CLI and evaluation.

- text: UTF-8 (a BOM is dropped), UTF-16/UTF-32 with a BOM, else Windows-1252, else Latin-1, with a note
  saying which; NUL bytes without a BOM mean binary data, not text;
- CSV: the delimiter sniffed among ``,`` ``;`` tab ``|`` (the default when nothing is clear);
- JSON and JSON Lines: one parser each; errors name the file, line and column;
- tables: Parquet (pyarrow; the shape from the footer, rows read a batch at a time) and Excel ``.xlsx``
  (openpyxl through pandas, first sheet);
- folders: a walk that never leaves its root (links out of it are skipped and reported, linked folders are
  not followed).

Unreadable input raises ``InvalidDocument`` naming the file (``label``); analysis turns it into
``InvalidInput`` with a location. A low layer: imports nothing from ``insight`` but ``insight.errors``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insight.errors import InvalidDocument

if TYPE_CHECKING:
    import pandas as pd

CSV_DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024
PARQUET_BATCH_ROWS = 64 * 1024

# Longest first: a UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: encrypted OOXML, or a legacy .xls
_PARQUET_MAGIC = b"PAR1"


# --- text ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedText:
    """Text and the encoding it was read with; ``notes`` say when that was a guess (not UTF-8)."""

    text: str
    encoding: str
    notes: tuple[str, ...] = ()


def _decode_marked(data: bytes, label: str) -> DecodedText | None:
    """Text that starts with a byte-order mark, decoded by it; ``None`` without one."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data.decode(codec), codec)
            except UnicodeDecodeError as exc:
                raise InvalidDocument(
                    f"{label}: starts with a {name} byte-order mark but is not valid {name} (byte {exc.start})"
                ) from None
    return None


def decode_text(data: bytes, label: str) -> DecodedText:
    """UTF-8 (BOM dropped), UTF-16/32 by their BOM, else Windows-1252, else Latin-1 (each noted).

    Raises ``InvalidDocument`` for binary data (NUL bytes without a BOM) and for a BOM its bytes contradict.
    """
    marked = _decode_marked(data, label)
    if marked is not None:
        return marked
    if b"\x00" in data:
        raise InvalidDocument(f"{label}: binary data, not text (UTF-16 text needs a byte-order mark)")
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        text = data.decode("cp1252")
        return DecodedText(text, "cp1252", (f"not UTF-8 (byte {where}): read as Windows-1252 (cp1252)",))
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # every byte is a Latin-1 character
        return DecodedText(text, "latin-1", (f"not UTF-8 (byte {where}): read as Latin-1 (ISO-8859-1)",))


# --- CSV -----------------------------------------------------------------------------------------


def sniff_delimiter(text: str, default: str = ",") -> str:
    """The CSV delimiter among ``,;\\t|``: ``csv.Sniffer`` on the first lines, else the one the header
    line holds most of, else ``default`` (a one-column file has none)."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rfind("\n")]  # whole lines only
    header = next((line for line in sample.splitlines() if line.strip()), "")
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and delimiter in header:
        return delimiter
    counts = {candidate: header.count(candidate) for candidate in CSV_DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else default


# --- JSON and JSON Lines -------------------------------------------------------------------------


def _json_text(data: bytes, label: str) -> str:
    """JSON is UTF-8 (RFC 8259); a UTF-8/16/32 byte-order mark is honoured, nothing else is guessed."""
    marked = _decode_marked(data, label)
    if marked is not None:
        return marked.text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"{label}: not valid UTF-8 JSON (byte {exc.start})") from None


def _loads(text: str, label: str, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}" if line is None else f"line {line}, column {exc.colno}"
        raise InvalidDocument(f"{label}: invalid JSON at {at} ({exc.msg})") from None
    except RecursionError:
        where = "" if line is None else f" at line {line}"
        raise InvalidDocument(f"{label}: JSON nested too deeply{where}") from None


def load_json(data: bytes, label: str) -> Any:
    """The one JSON value in ``data``."""
    return _loads(_json_text(data, label), label)


def load_jsonl(data: bytes, label: str) -> list[tuple[int, Any]]:
    """(line number, value) for each non-blank line; lines end at ``\\n`` only (a JSON string may hold U+2028)."""
    values: list[tuple[int, Any]] = []
    for number, line in enumerate(_json_text(data, label).split("\n"), start=1):
        if line.strip():
            values.append((number, _loads(line, label, number)))
    return values


# --- tables --------------------------------------------------------------------------------------


class ParquetTable:
    """A Parquet file: its shape from the footer; rows read only when asked, a batch at a time."""

    def __init__(self, data: bytes, label: str) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self.label = label
        if not (data.startswith(_PARQUET_MAGIC) and data.endswith(_PARQUET_MAGIC)):
            raise InvalidDocument(f"{label}: not a Parquet file (no PAR1 magic bytes)")
        try:
            self._file = pq.ParquetFile(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, …
            raise InvalidDocument(f"{label}: not a readable Parquet file ({_reason(exc)})") from None
        self.rows: int = self._file.metadata.num_rows
        self.columns: list[str] = [str(name) for name in self._file.schema_arrow.names]
        repeated = sorted(name for name, count in Counter(self.columns).items() if count > 1)
        if repeated:
            raise InvalidDocument(f"{label}: column names repeat ({', '.join(map(repr, repeated[:3]))})")

    def read(self, positions: Sequence[int] | None = None, columns: int | None = None) -> pd.DataFrame:
        """The first ``columns`` columns (all by default) at the sorted row ``positions`` (all by default).

        Integer columns become nullable ``Int64``-family dtypes, so missing values do not turn them into floats.
        """
        import pyarrow as pa

        names = self.columns[:columns] if columns is not None else self.columns
        schema = self._file.schema_arrow
        nested = [name for name in names if pa.types.is_nested(schema.field(name).type)]
        if nested:
            raise InvalidDocument(
                f"{self.label}: column {nested[0]!r} holds nested values (lists or structs); "
                "values must be numbers, strings, booleans or dates"
            )
        try:
            if positions is None:
                table = self._file.read(columns=names)
            else:
                table = pa.Table.from_batches(self._take(positions, names), schema=_schema_of(schema, names))
            frame: pd.DataFrame = table.to_pandas(types_mapper=_nullable_integers())
        except Exception as exc:
            raise InvalidDocument(f"{self.label}: not a readable Parquet file ({_reason(exc)})") from None
        return frame

    def _take(self, positions: Sequence[int], names: list[str]) -> list[Any]:
        import numpy as np
        import pyarrow as pa

        wanted = np.asarray(positions, dtype=np.int64)
        batches: list[Any] = []
        start = 0
        for batch in self._file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=names):
            end = start + batch.num_rows
            low, high = np.searchsorted(wanted, [start, end])
            if high > low:
                batches.append(batch.take(pa.array(wanted[low:high] - start)))
            start = end
        return batches


def _schema_of(schema: Any, names: list[str]) -> Any:
    """``schema`` cut down to ``names``, in that order."""
    import pyarrow as pa

    return pa.schema([schema.field(name) for name in names])


def _nullable_integers() -> Any:
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
    }
    return mapping.get


def read_excel(data: bytes, label: str) -> pd.DataFrame:
    """The first sheet of an ``.xlsx`` workbook, every cell as stored (``header=None``, ``dtype=object``).

    Rows and columns with no value at all are dropped; the caller takes the first row as the header.
    """
    import pandas as pd

    if data.startswith(_OLE_MAGIC):
        raise InvalidDocument(
            f"{label}: an encrypted (password-protected) workbook or a legacy .xls file; "
            "save it as an .xlsx workbook without a password"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise InvalidDocument(f"{label}: not an Excel .xlsx workbook")
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # zipfile, openpyxl and lxml raise many types
        raise InvalidDocument(f"{label}: not a readable Excel workbook ({_reason(exc)})") from None
    return frame.dropna(axis="index", how="all").dropna(axis="columns", how="all").reset_index(drop=True)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


# --- folders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderWalk:
    """Files under a folder with their ids (the path relative to the folder, POSIX), and what was skipped."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)


def walk_folder(root: Path, suffixes: Collection[str]) -> FolderWalk:
    """Regular files under ``root`` whose suffix (lower-cased) is in ``suffixes``, sorted by id.

    Never leaves ``root``: a link to a file outside it is skipped and reported, linked folders are not
    followed (reported too), and unreadable folders are reported instead of failing the walk.
    """
    base = root.resolve()
    walk = FolderWalk()

    def unreadable(error: OSError) -> None:
        walk.skipped.append((Path(error.filename or root), f"cannot be read ({error.strerror})"))

    for folder, subfolders, names in os.walk(root, onerror=unreadable, followlinks=False):
        here = Path(folder)
        subfolders.sort()
        for name in subfolders:
            if (here / name).is_symlink():
                walk.skipped.append(
                    (here / name, f"a link to a folder ({_target(here / name)}); links are not followed")
                )
        for name in sorted(names):
            path = here / name
            if path.suffix.lower() not in suffixes:
                continue
            if path.is_symlink():
                target = _target(path)
                if target is None or not target.is_relative_to(base):
                    walk.skipped.append((path, f"a link to {target or 'nowhere'}, outside {root}"))
                    continue
            if path.is_file():  # not a broken link, a socket or a pipe
                walk.files.append((path, path.relative_to(root).as_posix()))
    walk.files.sort(key=lambda found: found[1])
    return walk


def _target(link: Path) -> Path | None:
    try:
        return link.resolve()
    except (OSError, RuntimeError):  # a link loop
        return None
