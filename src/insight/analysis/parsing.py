"""Input → pandas ``DataFrame``: JSON records, CSV text, or an uploaded ``.csv``/``.tsv``/``.json``/``.jsonl``/
``.parquet``/``.xlsx`` file, read through ``insight.reader`` (the reader ingestion uses too).

Every source goes through the same checks and the same careful typing:

- CSV: the encoding (UTF-8, UTF-16 with a BOM, else Windows-1252/Latin-1, noted) and the delimiter (``,``
  ``;`` tab ``|``) are sniffed; Parquet keeps its column types; Excel reads the first sheet;
- empty data, or data that is not a table (a JSON scalar, a list of non-objects, nested values, a CSV
  whose rows have more fields than its header), or a file that cannot be read → ``InvalidInput`` naming where;
- over ``max_bytes`` → ``PayloadTooLarge`` always (the bytes are already in memory: parsing them is the
  cost the limit protects against); over ``max_rows`` or ``max_columns`` → ``PayloadTooLarge`` unless
  ``allow_sampling``, which keeps a uniform random sample of ``max_rows`` rows (fixed seed, original
  order kept) and the first ``max_columns`` columns, and says so in ``notes``;
- a column whose values are all numbers (or number strings such as ``"1,234"``, ``"$1,234.50"``, ``"12 €"``,
  ``"(1,234)"``, ``"12,5"``, ``"12.5%"``) becomes numeric; all ISO dates (``2024-01-31``, ``2024-01``,
  ``2024-01-31T09:30:00Z``) or all dates of one unambiguous format (``2024/01/31``, ``31.01.2024``,
  ``31 Jan 2024``, ``Jan 31, 2024``) becomes datetime (``01/02/2024`` is ambiguous and stays text); all
  ``true``/``false`` becomes boolean; a column mixing numbers and text stays text. Every conversion other than
  plain numbers and ISO dates, and every mix, gets a data-quality note.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from insight.errors import FieldProblem, InvalidDocument, InvalidInput, PayloadTooLarge, UnsupportedFileType
from insight.reader import ParquetTable, decode_text, load_json, load_jsonl, read_excel, sniff_delimiter

if TYPE_CHECKING:
    from insight.config import AnalysisSettings

SAMPLE_SEED = 20_240_101
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".xlsx")
# The FieldProblem type of a file the reader cannot read, by suffix.
_UNREADABLE = {
    ".csv": "encoding",
    ".tsv": "encoding",
    ".json": "json_invalid",
    ".jsonl": "json_invalid",
    ".parquet": "parquet_invalid",
    ".xlsx": "excel_invalid",
}
Loc = tuple[str | int, ...]

# pandas' own default NA tokens (read_csv), applied to every source so records and CSV agree.
NA_TOKENS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"}
    | {"NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_INTEGER = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$|^[+-]?\d+$")
_NOT_INTEGER_CHAR = re.compile(r"[^\d+-]")  # in number strings that all parse: ".", "e", "inf", …
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

    @classmethod
    def of(cls, settings: AnalysisSettings) -> DataLimits:
        return cls(max_rows=settings.max_rows, max_bytes=settings.max_bytes, max_columns=settings.max_columns)


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
    """CSV with a header row (delimiter sniffed); rows shorter than the header are padded with missing values."""
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise PayloadTooLarge(f"the CSV is {size:,} bytes; the limit is {limits.max_bytes:,}")
    return _parse_csv(text, "csv", limits, allow_sampling, loc, sniff_delimiter(text))


def parse_path(path: Path, *, limits: DataLimits = DataLimits(), allow_sampling: bool = False) -> ParsedData:
    """A table file on disk (``parse_file`` on its name and bytes); OSError when it cannot be read."""
    return parse_file(path.name, path.read_bytes(), limits=limits, allow_sampling=allow_sampling)


def parse_file(
    name: str,
    content: bytes,
    *,
    limits: DataLimits = DataLimits(),
    allow_sampling: bool = False,
    loc: Loc = ("file",),
) -> ParsedData:
    """An uploaded file, by its name's suffix: ``.csv``/``.tsv``, ``.json`` (records or ``{"data": [...]}``),
    ``.jsonl``, ``.parquet``, ``.xlsx`` (the first sheet)."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileType(
            f"{name!r}: cannot analyse {suffix or 'a file without an extension'}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if len(content) > limits.max_bytes:
        raise PayloadTooLarge(f"{name!r} is {len(content):,} bytes; the limit is {limits.max_bytes:,}")
    try:
        return _parse_content(suffix, name, content, limits, allow_sampling, loc)
    except InvalidDocument as exc:  # the reader names the file; the location says it was the upload
        raise _invalid(loc, exc.message, _UNREADABLE[suffix]) from None


def _parse_content(
    suffix: str, name: str, content: bytes, limits: DataLimits, allow_sampling: bool, loc: Loc
) -> ParsedData:
    if suffix in (".csv", ".tsv"):
        decoded = decode_text(content, name)
        delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(decoded.text)
        parsed = _parse_csv(decoded.text, suffix[1:], limits, allow_sampling, loc, delimiter)
        parsed.notes[:0] = decoded.notes
        return parsed
    if suffix == ".parquet":
        return _parse_parquet(ParquetTable(content, name), limits, allow_sampling, loc)
    if suffix == ".xlsx":
        return _parse_grid(read_excel(content, name), "xlsx", "the first sheet", limits, allow_sampling, loc)
    if suffix == ".jsonl":
        rows = [value for _, value in load_jsonl(content, name)]
        parsed = parse_records(rows, limits=limits, allow_sampling=allow_sampling, loc=loc)
        parsed.source = "jsonl"
        return parsed
    document = load_json(content, name)
    if isinstance(document, dict):
        if "data" not in document:
            raise _invalid(loc, 'a JSON object must hold the rows under "data": {"data": [{...}, ...]}', "missing")
        document = document["data"]
        loc = (*loc, "data")
    parsed = parse_records(document, limits=limits, allow_sampling=allow_sampling, loc=loc)
    parsed.source = "json"
    return parsed


def _parse_csv(
    text: str, source: str, limits: DataLimits, allow_sampling: bool, loc: Loc, delimiter: str
) -> ParsedData:
    if not text.strip():
        raise _invalid(loc, "no rows: the CSV is empty", "too_short")
    try:
        # header=None: pandas sizes the table from the first line, so a data row with more fields than the
        # header is an error instead of silently becoming the index; dtype=object keeps the raw strings.
        raw = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=object,
            keep_default_na=False,
            on_bad_lines="error",
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise _invalid(loc, "no rows: the CSV is empty", "too_short") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        message = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise _invalid(loc, f"not a readable table: {message}", "csv_invalid") from None
    return _parse_grid(raw, source, "the CSV", limits, allow_sampling, loc)


def _parse_grid(
    raw: pd.DataFrame, source: str, what: str, limits: DataLimits, allow_sampling: bool, loc: Loc
) -> ParsedData:
    """Cells read without a header (CSV, a sheet): the first row names the columns."""
    if raw.empty:
        raise _invalid(loc, f"no rows: {what} is empty", "too_short")
    header = [str(value).strip() for value in raw.iloc[0]]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(_unique_names(header))
    if frame.empty:
        raise _invalid(loc, f"no rows: {what} has a header but no data", "too_short")
    original_rows = len(frame)
    notes: list[str] = []
    if original_rows > limits.max_rows:
        if not allow_sampling:
            raise PayloadTooLarge(_rows_message(original_rows, limits.max_rows))
        frame = frame.iloc[_sample_positions(original_rows, limits.max_rows)].reset_index(drop=True)
        notes.append(_sampling_note(len(frame), original_rows))
    return _finish(frame, source, original_rows, limits, allow_sampling, loc, notes)


def _parse_parquet(table: ParquetTable, limits: DataLimits, allow_sampling: bool, loc: Loc) -> ParsedData:
    """Only the rows and columns that will be kept are read (the shape comes from the file's footer)."""
    if table.rows == 0 or not table.columns:
        raise _invalid(loc, "no rows: the Parquet file holds no data", "too_short")
    notes: list[str] = []
    positions = None
    if table.rows > limits.max_rows:
        if not allow_sampling:
            raise PayloadTooLarge(_rows_message(table.rows, limits.max_rows))
        positions = _sample_positions(table.rows, limits.max_rows)
        notes.append(_sampling_note(limits.max_rows, table.rows))
    columns = None
    if len(table.columns) > limits.max_columns:
        if not allow_sampling:
            raise PayloadTooLarge(_columns_message(len(table.columns), limits.max_columns))
        columns = limits.max_columns
        notes.append(_columns_note(limits.max_columns, len(table.columns)))
    frame = table.read(positions, columns)
    frame.index = pd.RangeIndex(len(frame))
    return _finish(frame, "parquet", table.rows, limits, allow_sampling, loc, notes, len(table.columns))


def _finish(
    frame: pd.DataFrame,
    source: str,
    original_rows: int,
    limits: DataLimits,
    allow_sampling: bool,
    loc: Loc,
    notes: list[str],
    original_columns: int | None = None,
) -> ParsedData:
    if len(frame.columns) == 0:
        raise _invalid(loc, "no columns: the records have no fields", "too_short")
    frame.columns = pd.Index(_unique_names([str(name) for name in frame.columns]))
    if original_columns is None:
        original_columns = len(frame.columns)
    if len(frame.columns) > limits.max_columns:
        if not allow_sampling:
            raise PayloadTooLarge(_columns_message(original_columns, limits.max_columns))
        frame = frame.iloc[:, : limits.max_columns]
        notes.append(_columns_note(limits.max_columns, original_columns))
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
    """One column, typed; a note when a conversion read more than plain numbers or ISO dates, or when it
    mixes numbers with text (it then stays text)."""
    name = str(series.name)
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return series.rename(name), None  # already typed (a frame built by the caller, Parquet)
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
    if kind in ("datetime", "datetime64", "date"):  # cells already typed as dates (Excel)
        as_dates = _typed_dates(present)
        if as_dates is not None:
            return _dates_column(as_dates, series.index, name), None
    if kind == "string":
        plain = pd.to_numeric(present, errors="coerce")  # vectorised: the common case of a CSV's number column
        if plain.notna().all():
            integral = _NOT_INTEGER_CHAR.search("".join(present.tolist())) is None  # one scan, no per-value loop
            return _numeric(clean.where(missing, plain), name, integral=integral)
        lowered = present.str.lower()
        if lowered.isin(list(_BOOL_WORDS)).all():
            return clean.map(lambda v: v if pd.isna(v) else _BOOL_WORDS[str(v).lower()]).astype("boolean"), None
        as_dates = _iso_dates(present)
        if as_dates is not None:
            return _dates_column(as_dates, series.index, name), None
        other_dates = _formatted_dates(present)
        if other_dates is not None:
            as_dates, described = other_dates
            return _dates_column(as_dates, series.index, name), f"column {quote(name)} read as dates ({described})"
    numbers = _to_numbers(present)
    n_numbers = int(numbers.notna().sum())
    if n_numbers == len(present):
        integral = bool(present.map(_is_integer_token).all())
        typed, note = _numeric(clean.where(missing, numbers), name, integral=integral)
        separated = present[present.map(lambda v: isinstance(v, str) and "," in v)]
        if not separated.empty:
            example = str(separated.iloc[0])
            read = f'"," as the thousands separator ({quote(example, 24)} → {_shown(numbers[separated.index[0]])})'
            note = _joined(f"column {quote(name)} read as numbers with {read}", note)
        return typed, note
    if kind == "string":
        amounts = _amounts(present)
        if isinstance(amounts, str):
            text = clean.astype("string").rename(name)
            return text, f"column {quote(name)} {amounts}; it is treated as text"
        if amounts is not None:
            values, integral, how = amounts
            typed, note = _numeric(clean.where(missing, values), name, integral=integral)
            return typed, _joined(f"column {quote(name)} read as numbers: {how}", note)
    text = clean.map(lambda v: v if pd.isna(v) else str(v)).astype("string").rename(name)
    if n_numbers:
        n_text = len(present) - n_numbers
        return text, (
            f"column {quote(name)} mixes numbers ({n_numbers:,} values) and text ({n_text:,} values); "
            "it is treated as text"
        )
    return text, None


def _joined(first: str, second: str | None) -> str:
    return first if second is None else f"{first}; {second}"


def _shown(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def _dates_column(as_dates: pd.Series[Any], index: pd.Index[Any], name: str) -> pd.Series[Any]:
    out = pd.Series(pd.NaT, index=index, name=name, dtype=as_dates.dtype)
    out[as_dates.index] = as_dates
    return out


# --- amounts: currencies, percentages, accounting negatives, decimal commas ----------------------

_CURRENCY_SYMBOLS = "$€£¥₹"
_AMOUNT = re.compile(
    rf"^(?P<open>\()?\s*(?P<sign>[-+\u2212])?\s*(?P<pre>[{_CURRENCY_SYMBOLS}])?\s*(?P<sign2>[-+\u2212])?\s*"
    rf"(?P<number>\d[\d.,]*|[.,]\d+)\s*(?P<post>[{_CURRENCY_SYMBOLS}%])?\s*(?P<close>\))?$"
)
# "1,234.5" (comma thousands, point decimals) and "1.234,5" (point thousands, comma decimals).
_POINT_DECIMAL = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+")
_COMMA_DECIMAL = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d*)?|\d+(?:,\d*)?|,\d+")


def _amounts(present: pd.Series[Any]) -> tuple[pd.Series[Any], bool, str] | str | None:
    """Every value an amount (``$1,234.50``, ``12 €``, ``(1,234)``, ``12,5``, ``12.5%``) → (numbers, integral,
    how they were read); a reason when the values are amounts that cannot be one number column (mixed
    currencies, percentages beside plain numbers); ``None`` when they are not all amounts."""
    if not isinstance(present.iloc[0], str) or not _AMOUNT.match(present.iloc[0]):
        return None  # cheap early exit for text columns
    parts = present.astype(str).str.extract(_AMOUNT)
    if parts["number"].isna().any():
        return None
    has = parts.notna()
    if (has["open"] != has["close"]).any() or (has["sign"] & has["sign2"]).any() or (has["open"] & has["sign"]).any():
        return None
    if (has["pre"] & has["post"]).any():
        return None
    post = parts["post"]
    percent = post == "%"
    symbols = sorted(set(parts["pre"].dropna()) | set(post[~percent].dropna()))
    if percent.any() and (symbols or not percent.all()):
        return None if symbols else "mixes percentages and plain numbers"
    if len(symbols) > 1:
        return f"mixes currencies ({', '.join(symbols)})"
    tokens = parts["number"]
    if tokens.str.fullmatch(_POINT_DECIMAL).all():
        decimal, plain = ".", tokens.str.replace(",", "", regex=False)
    elif tokens.str.fullmatch(_COMMA_DECIMAL).all():
        decimal, plain = ",", tokens.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        return None
    negative = has["open"] | parts["sign"].isin(["-", "\u2212"]) | parts["sign2"].isin(["-", "\u2212"])
    values = pd.to_numeric(plain, errors="coerce").astype("float64").where(~negative, lambda v: -v)
    if values.isna().any():
        return None
    how: list[str] = []

    def example(mask: pd.Series[Any], what: str) -> None:
        first = mask[mask].index[0]
        how.append(f"{what} ({quote(str(present[first]), 24)} → {_shown(float(values[first]))})")

    if symbols:
        example(has["pre"] | (has["post"] & ~percent), f"amounts in {symbols[0]}, the symbol removed")
    if percent.all():
        example(percent, "percentages, in percent points")
    if has["open"].any():
        example(has["open"], "parentheses as negative")
    separated = tokens.str.contains("," if decimal == "." else ".", regex=False)
    if separated.any():
        example(separated, f"{quote(',' if decimal == '.' else '.')} as the thousands separator")
    if decimal == ",":
        example(tokens.str.contains(",", regex=False), '"," as the decimal separator')
    integral = not tokens.str.contains(decimal, regex=False).any()
    return values.set_axis(present.index), integral, "; ".join(how)


# --- dates beyond ISO: only formats that leave no doubt about which field is the day --------------

# (guard, pandas formats to try, how the note describes it); day/month/year with slashes is absent on purpose:
# 01/02/2024 is 1 February in most of the world and January 2 in the US.
_DATE_FORMATS: tuple[tuple[re.Pattern[str], tuple[str, ...], str], ...] = (
    (re.compile(r"\d{4}/\d{1,2}/\d{1,2}"), ("%Y/%m/%d",), "year/month/day"),
    (re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}"), ("%Y/%m/%d %H:%M",), "year/month/day hour:minute"),
    (
        re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2}"),
        ("%Y/%m/%d %H:%M:%S",),
        "year/month/day hour:minute:second",
    ),
    (re.compile(r"\d{4}\.\d{1,2}\.\d{1,2}"), ("%Y.%m.%d",), "year.month.day"),
    # Dotted dates are day first wherever they are written (DE, AT, CH, RU, PL, CZ, NO, FI, …).
    (re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}"), ("%d.%m.%Y",), "day.month.year"),
    (re.compile(r"\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}:\d{2}"), ("%d.%m.%Y %H:%M",), "day.month.year hour:minute"),
    (re.compile(r"\d{1,2} [A-Za-z]{3,9} \d{4}"), ("%d %b %Y", "%d %B %Y"), "day month-name year"),
    (re.compile(r"\d{1,2}-[A-Za-z]{3}-\d{4}"), ("%d-%b-%Y",), "day-month-name-year"),
    (re.compile(r"[A-Za-z]{3,9} \d{1,2}, \d{4}"), ("%b %d, %Y", "%B %d, %Y"), "month-name day, year"),
    (re.compile(r"[A-Za-z]{3,9} \d{4}"), ("%b %Y", "%B %Y"), "month-name year"),
)


def _formatted_dates(values: pd.Series[Any]) -> tuple[pd.Series[Any], str] | None:
    """The values as datetimes when all are real dates of one unambiguous non-ISO format, and how it was read."""
    first = str(values.iloc[0])
    for guard, formats, described in _DATE_FORMATS:
        if not guard.fullmatch(first) or not values.str.fullmatch(guard).all():
            continue
        for fmt in formats:
            parsed = pd.to_datetime(values, format=fmt, errors="coerce")
            if parsed.notna().all():
                return parsed, f"{described}, e.g. {quote(first, 24)}"
        return None  # the right shape but not real dates (31.02.2024): text
    return None


def _typed_dates(values: pd.Series[Any]) -> pd.Series[Any] | None:
    """Date and datetime objects (an Excel sheet's date cells) as a datetime column; ``None`` if they disagree
    on time zones."""
    try:
        parsed = pd.to_datetime(values.tolist(), errors="coerce")
    except (TypeError, ValueError):
        return None
    if parsed.isna().any():
        return None
    return pd.Series(parsed, index=values.index)


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
    if not _ISO_DATE.match(str(values.iloc[0])) or not values.str.match(_ISO_DATE).all():
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


def _sample_positions(n_rows: int, keep: int) -> list[int]:
    """``keep`` row positions drawn uniformly without replacement (fixed seed), in their original order."""
    rng = np.random.default_rng(SAMPLE_SEED)
    return sorted(rng.choice(n_rows, size=keep, replace=False).tolist())


def _sampling_note(kept: int, total: int) -> str:
    return f"sampled {kept:,} of {total:,} rows (uniform, without replacement, fixed seed {SAMPLE_SEED})"


def _columns_message(columns: int, limit: int) -> str:
    return f"the data has {columns:,} columns; the limit is {limit:,}"


def _columns_note(kept: int, total: int) -> str:
    return f"kept the first {kept:,} of {total:,} columns"


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
