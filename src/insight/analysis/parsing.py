"""Input → pandas ``DataFrame``: JSON records, CSV text, or an uploaded ``.csv``/``.json``/``.jsonl`` file.

Every source goes through the same checks and the same careful typing:

- empty data, or data that is not a table (a JSON scalar, a list of non-objects, nested values, a CSV
  whose rows have more fields than its header) → ``InvalidInput`` naming where;
- over ``max_bytes`` → ``PayloadTooLarge`` always (the bytes are already in memory: parsing them is the
  cost the limit protects against); over ``max_rows`` or ``max_columns`` → ``PayloadTooLarge`` unless
  ``allow_sampling``, which keeps a uniform random sample of ``max_rows`` rows (fixed seed, original
  order kept) and the first ``max_columns`` columns, and says so in ``notes``;
- a column whose values are all numbers (or number strings such as ``"1,234"``) becomes numeric; all ISO
  dates (``2024-01-31``, ``2024-01``, ``2024-01-31T09:30:00Z``) becomes datetime; all ``true``/``false``
  becomes boolean; a column mixing numbers and text stays text and gets a data-quality note.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from insight.errors import FieldProblem, InvalidInput, PayloadTooLarge, UnsupportedFileType

SAMPLE_SEED = 20_240_101
SUPPORTED_SUFFIXES = (".csv", ".json", ".jsonl")
Loc = tuple[str | int, ...]

# pandas' own default NA tokens (read_csv), applied to every source so records and CSV agree.
NA_TOKENS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"}
    | {"NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_INTEGER = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$|^[+-]?\d+$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?$")
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?[+-]\d{2})$")
_BOOL_WORDS = {"true": True, "false": False}
_MAX_PROBLEMS = 5


@dataclass(frozen=True)
class DataLimits:
    """How much data one analysis takes (the API passes its settings; the CLI may pass larger ones)."""

    max_rows: int = 100_000
    max_bytes: int = 10 * 1024 * 1024
    max_columns: int = 200


@dataclass
class ParsedData:
    """A typed frame plus what happened on the way: sampling and data-quality notes."""

    frame: pd.DataFrame
    source: str
    original_rows: int
    original_columns: int
    notes: list[str] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.original_rows or len(self.frame.columns) < self.original_columns


def parse_records(
    records: object,
    *,
    limits: DataLimits = DataLimits(),
    allow_sampling: bool = False,
    loc: Loc = ("body", "data"),
) -> ParsedData:
    """A list of JSON objects (one per row), as posted in a request body.

    The byte limit is the caller's (the API's body limit has been applied before the JSON was parsed).
    """
    if not isinstance(records, list):
        raise _invalid(loc, f"expected a list of records (JSON objects), got {_json_type(records)}", "list_type")
    if not records:
        raise _invalid(loc, "no rows: the data is empty", "too_short")
    problems = [
        FieldProblem((*loc, index), f"row {index} is {_json_type(row)}, not an object", "dict_type")
        for index, row in enumerate(records)
        if not isinstance(row, dict)
    ]
    if problems:
        raise InvalidInput(_capped(problems, loc, "rows are not objects"))
    notes: list[str] = []
    original_rows = len(records)
    if original_rows > limits.max_rows:
        if not allow_sampling:
            raise PayloadTooLarge(_rows_message(original_rows, limits.max_rows))
        keep = _sample_positions(original_rows, limits.max_rows)
        records = [records[i] for i in keep]
        notes.append(_sampling_note(len(records), original_rows))
    _reject_nested(records, loc)
    frame = pd.DataFrame(records, dtype=object)  # keep each value as written (ints stay ints)
    if original_rows > limits.max_rows:
        frame.index = pd.RangeIndex(len(frame))
    return _finish(frame, "records", original_rows, limits, allow_sampling, loc, notes)


def parse_csv_text(
    text: str,
    *,
    limits: DataLimits = DataLimits(),
    allow_sampling: bool = False,
    loc: Loc = ("body", "csv"),
) -> ParsedData:
    """CSV with a header row; rows shorter than the header are padded with missing values."""
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise PayloadTooLarge(f"the CSV is {size:,} bytes; the limit is {limits.max_bytes:,}")
    return _parse_csv(text, "csv", limits, allow_sampling, loc)


def parse_file(
    name: str,
    content: bytes,
    *,
    limits: DataLimits = DataLimits(),
    allow_sampling: bool = False,
    loc: Loc = ("file",),
) -> ParsedData:
    """An uploaded file, by its name's suffix: ``.csv``, ``.json`` (records or ``{"data": [...]}``), ``.jsonl``."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileType(
            f"{name!r}: cannot analyse {suffix or 'a file without an extension'}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if len(content) > limits.max_bytes:
        raise PayloadTooLarge(f"{name!r} is {len(content):,} bytes; the limit is {limits.max_bytes:,}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(loc, f"{name!r} is not UTF-8 text ({exc.reason} at byte {exc.start})", "encoding") from None
    if suffix == ".csv":
        return _parse_csv(text, "csv", limits, allow_sampling, loc)
    if suffix == ".jsonl":
        rows = _jsonl_rows(text, name, loc)
        parsed = parse_records(rows, limits=limits, allow_sampling=allow_sampling, loc=loc)
        parsed.source = "jsonl"
        return parsed
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(loc, f"{name!r} is not valid JSON: {exc}", "json_invalid") from None
    if isinstance(document, dict):
        if "data" not in document:
            raise _invalid(loc, 'a JSON object must hold the rows under "data": {"data": [{...}, ...]}', "missing")
        document = document["data"]
        loc = (*loc, "data")
    parsed = parse_records(document, limits=limits, allow_sampling=allow_sampling, loc=loc)
    parsed.source = "json"
    return parsed


def _parse_csv(text: str, source: str, limits: DataLimits, allow_sampling: bool, loc: Loc) -> ParsedData:
    if not text.strip():
        raise _invalid(loc, "no rows: the CSV is empty", "too_short")
    try:
        # header=None: pandas sizes the table from the first line, so a data row with more fields than the
        # header is an error instead of silently becoming the index; dtype=object keeps the raw strings.
        raw = pd.read_csv(
            io.StringIO(text), header=None, dtype=object, keep_default_na=False, on_bad_lines="error", engine="c"
        )
    except pd.errors.EmptyDataError:
        raise _invalid(loc, "no rows: the CSV is empty", "too_short") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        message = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise _invalid(loc, f"not a readable table: {message}", "csv_invalid") from None
    header = [str(value).strip() for value in raw.iloc[0]]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(_unique_names(header))
    if frame.empty:
        raise _invalid(loc, "no rows: the CSV has a header but no data", "too_short")
    original_rows = len(frame)
    notes: list[str] = []
    if original_rows > limits.max_rows:
        if not allow_sampling:
            raise PayloadTooLarge(_rows_message(original_rows, limits.max_rows))
        frame = frame.iloc[_sample_positions(original_rows, limits.max_rows)].reset_index(drop=True)
        notes.append(_sampling_note(len(frame), original_rows))
    return _finish(frame, source, original_rows, limits, allow_sampling, loc, notes)


def _finish(
    frame: pd.DataFrame,
    source: str,
    original_rows: int,
    limits: DataLimits,
    allow_sampling: bool,
    loc: Loc,
    notes: list[str],
) -> ParsedData:
    if len(frame.columns) == 0:
        raise _invalid(loc, "no columns: the records have no fields", "too_short")
    frame.columns = pd.Index(_unique_names([str(name) for name in frame.columns]))
    original_columns = len(frame.columns)
    if original_columns > limits.max_columns:
        if not allow_sampling:
            raise PayloadTooLarge(f"the data has {original_columns:,} columns; the limit is {limits.max_columns:,}")
        frame = frame.iloc[:, : limits.max_columns]
        notes.append(f"kept the first {limits.max_columns:,} of {original_columns:,} columns")
    typed, quality = coerce_frame(frame)
    if typed.isna().all().all():
        raise _invalid(loc, "no values: every cell is empty", "too_short")
    return ParsedData(typed, source, original_rows, original_columns, notes + quality)


def coerce_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each column as its most specific type (number, datetime, boolean, else text) and data-quality notes."""
    columns: dict[str, pd.Series[Any]] = {}
    notes: list[str] = []
    for name in frame.columns:
        series, note = coerce_column(frame[name])
        columns[str(name)] = series
        if note:
            notes.append(note)
    return pd.DataFrame(columns, index=frame.index), notes


def coerce_column(series: pd.Series[Any]) -> tuple[pd.Series[Any], str | None]:
    """One column, typed; a note when it mixes numbers with text (it then stays text)."""
    name = str(series.name)
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return series.rename(name), None  # already typed (a frame built by the caller)
    if pd.api.types.is_numeric_dtype(dtype):
        return _numeric(series, name, integral=pd.api.types.is_integer_dtype(dtype))
    # A list, not Series.map: map would re-infer the dtype and turn [1, None, 2] into floats.
    raw = [value.strip() if isinstance(value, str) else value for value in series.astype(object)]
    stripped = pd.Series(raw, index=series.index, dtype=object)
    missing = stripped.isna() | stripped.isin(NA_TOKENS)
    present = stripped[~missing]
    clean = stripped.mask(missing)  # NaN where missing
    if present.empty:
        return pd.Series(np.nan, index=series.index, name=name, dtype="float64"), None
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind == "boolean":
        return clean.astype("boolean").rename(name), None
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _numeric(clean, name, integral=kind == "integer")
    if kind == "string":
        lowered = present.str.lower()
        if lowered.isin(list(_BOOL_WORDS)).all():
            return clean.map(lambda v: v if pd.isna(v) else _BOOL_WORDS[str(v).lower()]).astype("boolean"), None
        as_dates = _iso_dates(present)
        if as_dates is not None:
            out = pd.Series(pd.NaT, index=series.index, name=name, dtype=as_dates.dtype)
            out[present.index] = as_dates
            return out, None
    numbers = _to_numbers(present)
    n_numbers = int(numbers.notna().sum())
    if n_numbers == len(present):
        integral = bool(present.map(_is_integer_token).all())
        return _numeric(clean.where(missing, numbers), name, integral=integral)
    text = clean.map(lambda v: v if pd.isna(v) else str(v)).astype("string").rename(name)
    if n_numbers:
        n_text = len(present) - n_numbers
        return text, (
            f"column {quote(name)} mixes numbers ({n_numbers:,} values) and text ({n_text:,} values); "
            "it is treated as text"
        )
    return text, None


def _is_integer_token(value: object) -> bool:
    if isinstance(value, str):
        return _INTEGER.match(value) is not None
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _numeric(values: pd.Series[Any], name: str, *, integral: bool) -> tuple[pd.Series[Any], str | None]:
    """Float64, or nullable Int64 when the values were written as integers (``50.0`` stays a float)."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    infinite = np.isinf(numbers)
    note = None
    if infinite.any():
        numbers = numbers.mask(infinite)
        note = f"column {quote(name)} had {int(infinite.sum()):,} infinite values, counted as missing"
    present = numbers.dropna()
    if integral and not present.empty and present.abs().max() < 2**53:
        return numbers.astype("Int64").rename(name), note
    return numbers.rename(name), note


def _to_numbers(values: pd.Series[Any]) -> pd.Series[Any]:
    """Numbers as they are, number strings parsed (``"1,234.5"`` included); NaN where not a number."""

    def plain(value: object) -> object:
        if isinstance(value, bool):
            return np.nan
        if isinstance(value, str) and _THOUSANDS.match(value):
            return value.replace(",", "")
        return value

    return pd.to_numeric(values.map(plain), errors="coerce")


def _iso_dates(values: pd.Series[Any]) -> pd.Series[Any] | None:
    """The values as datetimes when every one is an ISO 8601 date; UTC when any carries an offset."""
    if not values.str.match(_ISO_DATE).all():
        return None
    aware = values.str.contains(_TZ_SUFFIX)
    parsed: pd.Series[Any]
    if aware.any():
        # Offsets become UTC; naive timestamps beside them are read as UTC rather than guessed.
        parsed = pd.to_datetime(values.where(aware), format="ISO8601", errors="coerce", utc=True)
        if not aware.all():
            naive = pd.to_datetime(values[~aware], format="ISO8601", errors="coerce").dt.tz_localize("UTC")
            parsed[~aware] = naive
    else:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    if parsed.isna().any():  # e.g. 2024-02-30
        return None
    return parsed


def _reject_nested(records: Sequence[dict[str, Any]], loc: Loc) -> None:
    problems: list[FieldProblem] = []
    for index, row in enumerate(records):
        for key, value in row.items():
            if isinstance(value, dict | list):
                problems.append(
                    FieldProblem(
                        (*loc, index, str(key)),
                        f"row {index}, field {quote(str(key))} holds {_json_type(value)}; values must be "
                        "numbers, strings, booleans or null",
                        "scalar_type",
                    )
                )
                if len(problems) > _MAX_PROBLEMS:
                    raise InvalidInput(_capped(problems, loc, "fields hold nested values"))
    if problems:
        raise InvalidInput(problems)


def _jsonl_rows(text: str, name: str, loc: Loc) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise _invalid(
                (*loc, f"line {number}"), f"{name!r} line {number} is not JSON: {exc}", "json_invalid"
            ) from None
    return rows


def _sample_positions(n_rows: int, keep: int) -> list[int]:
    """``keep`` row positions drawn uniformly without replacement (fixed seed), in their original order."""
    rng = np.random.default_rng(SAMPLE_SEED)
    return sorted(rng.choice(n_rows, size=keep, replace=False).tolist())


def _sampling_note(kept: int, total: int) -> str:
    return f"sampled {kept:,} of {total:,} rows (uniform, without replacement, fixed seed {SAMPLE_SEED})"


def _rows_message(rows: int, limit: int) -> str:
    return f"the data has {rows:,} rows; the limit is {limit:,} (allow sampling to analyse a sample)"


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique: list[str] = []
    for index, raw in enumerate(names):
        name = raw.strip() if raw.strip() and raw.strip() not in ("nan", "None") else f"column_{index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        unique.append(name)
    return unique


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _invalid(loc: Loc, msg: str, kind: str) -> InvalidInput:
    return InvalidInput([FieldProblem(loc, msg, kind)])


def _capped(problems: list[FieldProblem], loc: Loc, what: str) -> list[FieldProblem]:
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    rest = FieldProblem(loc, f"{len(problems) - _MAX_PROBLEMS} more {what}", problems[0].type)
    return [*problems[:_MAX_PROBLEMS], rest]


def quote(text: str, limit: int = 48) -> str:
    """``text`` as a JSON string literal, cut to ``limit`` characters, with ``<``/``>`` escaped.

    Data-derived strings (column names, category values) are shown to the model only this way, so a cell
    cannot pose as prompt text or close the ``<facts>`` block.
    """
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return json.dumps(cut, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
