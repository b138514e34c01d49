"""Input → DataFrame: each input kind, each bad input, limits and sampling, careful typing."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from insight.analysis import DataLimits, as_parsed, parse_csv_text, parse_file, parse_records
from insight.analysis.parsing import SAMPLE_SEED, quote
from insight.errors import InvalidInput, PayloadTooLarge, UnsupportedFileType

CSV = "month,sales,region\n2024-01-01,100,north\n2024-02-01,110,south\n2024-03-01,,north\n"
EXPECTED_DTYPES = {"month": "datetime64[us]", "sales": "Int64", "region": "string"}


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(name): str(dtype) for name, dtype in frame.dtypes.items()}


def test_records_become_a_typed_frame(sales: list[dict[str, object]]) -> None:
    parsed = parse_records(sales)
    assert parsed.frame.shape == (6, 5)
    assert dtypes(parsed.frame) == {
        "month": "datetime64[us]",
        "sales": "Int64",
        "cost": "float64",
        "region": "string",
        "units": "Int64",
    }
    assert parsed.frame["cost"].isna().sum() == 1
    assert parsed.notes == [] and not parsed.sampled and parsed.source == "records"


def test_csv_text_is_typed_like_records() -> None:
    parsed = parse_csv_text(CSV)
    assert dtypes(parsed.frame) == EXPECTED_DTYPES
    assert parsed.frame["sales"].tolist()[:2] == [100, 110] and pd.isna(parsed.frame["sales"][2])
    assert parsed.frame["month"][1] == pd.Timestamp("2024-02-01")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("data.csv", CSV.encode()),
        ("DATA.CSV", ("\ufeff" + CSV).encode()),  # a BOM, an upper-case suffix
        (
            "data.json",
            json.dumps(
                [
                    {"month": "2024-01-01", "sales": 100, "region": "north"},
                    {"month": "2024-02-01", "sales": 110, "region": "south"},
                    {"month": "2024-03-01", "sales": None, "region": "north"},
                ]
            ).encode(),
        ),
        (
            "wrapped.json",
            json.dumps(
                {
                    "data": [
                        {"month": "2024-01-01", "sales": 100, "region": "north"},
                        {"month": "2024-02-01", "sales": 110, "region": "south"},
                        {"month": "2024-03-01", "region": "north"},
                    ]
                }
            ).encode(),
        ),
        (
            "rows.jsonl",
            b'{"month": "2024-01-01", "sales": 100, "region": "north"}\n\n'
            b'{"month": "2024-02-01", "sales": 110, "region": "south"}\n'
            b'{"month": "2024-03-01", "sales": null, "region": "north"}\n',
        ),
    ],
)
def test_each_file_kind_parses_to_the_same_table(name: str, content: bytes) -> None:
    parsed = parse_file(name, content)
    assert dtypes(parsed.frame) == EXPECTED_DTYPES
    assert parsed.frame.shape == (3, 3)
    assert parsed.frame["region"].tolist() == ["north", "south", "north"]


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ([], ("body", "data"), "no rows"),
        ({"a": 1}, ("body", "data"), "expected a list of records"),
        (42, ("body", "data"), "got a number"),
        ([1, 2, 3], ("body", "data", 0), "row 0 is a number, not an object"),
        ([{"a": 1}, "x"], ("body", "data", 1), "row 1 is a string"),
        ([{}, {}], ("body", "data"), "no columns"),
        ([{"a": None}, {"a": None}], ("body", "data"), "every cell is empty"),
        ([{"a": {"b": 1}}], ("body", "data", 0, "a"), "holds an object"),
        ([{"a": [1, 2]}], ("body", "data", 0, "a"), "holds an array"),
    ],
)
def test_bad_records_are_invalid_input_with_a_location(data: object, loc: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_records(data)
    problem = caught.value.problems[0]
    assert problem.loc == loc
    assert message in problem.msg


def test_many_bad_rows_are_capped_with_a_count() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_records(list(range(20)))
    assert len(caught.value.problems) == 6
    assert caught.value.problems[-1].msg == "15 more rows are not objects"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"", "the CSV is empty"),
        ("a.csv", b"   \n", "the CSV is empty"),
        ("a.csv", b"a,b\n", "a header but no data"),
        ("a.csv", b"a,b\n1,2\n3,4,5\n", "not a readable table: Expected 2 fields in line 3, saw 3"),
        ("a.csv", b"a,b\n1,2,3\n", "Expected 2 fields in line 2, saw 3"),  # not silently an index column
        ("a.csv", b"a,b\n\x00\x01,1\n", "binary data, not text"),
        ("a.csv", b"\xff\xfea\x00,", "not valid UTF-16"),  # a UTF-16 BOM, then an odd byte count
        ("a.json", b"42", "expected a list of records"),
        ("a.json", b'"text"', "got a string"),
        ("a.json", b"[1, 2]", "row 0 is a number"),
        ("a.json", b'{"rows": []}', 'hold the rows under "data"'),
        ("a.json", b'{"data": []}', "no rows"),
        ("a.json", b"{not json", "a.json: invalid JSON at line 1, column 2"),
        ("a.json", '{"a": "café"}'.encode("latin-1"), "not valid UTF-8 JSON"),
        ("a.jsonl", b'{"a": 1}\n[1]\n', "row 1 is an array"),
        ("a.jsonl", b'{"a": 1}\n{oops\n', "a.jsonl: invalid JSON at line 2, column 2"),
    ],
)
def test_bad_files_are_invalid_input(name: str, content: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file(name, content)
    assert message in caught.value.message
    assert caught.value.problems[0].loc[0] == "file"


def test_an_unknown_suffix_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFileType, match=r"'data\.xls': cannot analyse \.xls; supported: \.csv, \.tsv"):
        parse_file("data.xls", b"x")
    with pytest.raises(UnsupportedFileType, match=r"\.jsonl, \.parquet, \.xlsx$"):
        parse_file("README", b"x")


def test_short_csv_rows_are_padded_with_missing_values() -> None:
    frame = parse_csv_text("a,b,c\n1,2\n3,4,5\n").frame
    assert frame["c"].isna().tolist() == [True, False]


def test_duplicate_and_blank_headers_get_unique_names() -> None:
    frame = parse_csv_text("a,a,\n1,2,3\n").frame
    assert list(frame.columns) == ["a", "a_2", "column_3"]


def test_over_the_row_limit_is_payload_too_large(sales: list[dict[str, object]]) -> None:
    with pytest.raises(PayloadTooLarge, match=r"the data has 6 rows; the limit is 4 \(allow sampling"):
        parse_records(sales, limits=DataLimits(max_rows=4))
    with pytest.raises(PayloadTooLarge, match=r"6 rows; the limit is 4"):
        parse_csv_text(pd.DataFrame(sales).to_csv(index=False), limits=DataLimits(max_rows=4))


def test_over_the_column_limit_is_payload_too_large(sales: list[dict[str, object]]) -> None:
    with pytest.raises(PayloadTooLarge, match=r"5 columns; the limit is 3"):
        parse_records(sales, limits=DataLimits(max_columns=3))


def test_over_the_byte_limit_is_payload_too_large_even_with_sampling() -> None:
    with pytest.raises(PayloadTooLarge, match=r"'big\.csv' is 1,100 bytes; the limit is 1,000"):
        parse_file("big.csv", b"a\n" + b"1\n" * 549, limits=DataLimits(max_bytes=1000), allow_sampling=True)
    with pytest.raises(PayloadTooLarge, match=r"the CSV is 1,100 bytes"):
        parse_csv_text("a\n" + "1\n" * 549, limits=DataLimits(max_bytes=1000))


def test_sampling_is_deterministic_keeps_order_and_says_so() -> None:
    records = [{"i": i, "x": i * 2} for i in range(1000)]
    first = parse_records(records, limits=DataLimits(max_rows=100), allow_sampling=True)
    again = parse_records(records, limits=DataLimits(max_rows=100), allow_sampling=True)
    assert len(first.frame) == 100 and first.original_rows == 1000 and first.sampled
    assert first.frame["i"].tolist() == again.frame["i"].tolist()
    assert first.frame["i"].is_monotonic_increasing and first.frame["i"].nunique() == 100
    assert list(first.frame.index) == list(range(100))
    assert first.notes == [f"sampled 100 of 1,000 rows (uniform, without replacement, fixed seed {SAMPLE_SEED})"]
    from_csv = parse_csv_text(
        pd.DataFrame(records).to_csv(index=False), limits=DataLimits(max_rows=100), allow_sampling=True
    )
    assert from_csv.frame["i"].tolist() == first.frame["i"].tolist()  # the same rows whatever the source


def test_sampling_columns_keeps_the_first_ones(sales: list[dict[str, object]]) -> None:
    parsed = parse_records(sales, limits=DataLimits(max_columns=2), allow_sampling=True)
    assert list(parsed.frame.columns) == ["month", "sales"]
    assert parsed.notes == ["kept the first 2 of 5 columns"]


def test_mixed_numbers_and_text_stay_text_with_a_note() -> None:
    parsed = parse_records([{"code": 1}, {"code": "A7"}, {"code": 3}, {"code": None}])
    assert str(parsed.frame["code"].dtype) == "string"
    assert parsed.frame["code"].tolist()[:3] == ["1", "A7", "3"]
    assert parsed.notes == ['column "code" mixes numbers (2 values) and text (1 values); it is treated as text']
    csv_parsed = parse_csv_text("code\n1\nA7\n3\n")
    assert str(csv_parsed.frame["code"].dtype) == "string" and len(csv_parsed.notes) == 1


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["1", " 2 ", "3"], "Int64", [1, 2, 3]),
        (["1,234", "5", "-1,000.5"], "float64", [1234.0, 5.0, -1000.5]),
        ([1, 2.5, "NA"], "float64", [1.0, 2.5, None]),
        ([1, 2, None], "Int64", [1, 2, None]),
        ([1, 2.0, None], "float64", [1.0, 2.0, None]),  # written as a float: stays float
        (["true", "False", None], "boolean", [True, False, None]),
        ([True, False, True], "boolean", [True, False, True]),
        (["2024-01", "2024-02", "n/a"], "datetime64[us]", ["2024-01-01", "2024-02-01", None]),
        (["2024-01-31T09:30:00Z", "2024-02-01T00:00:00+01:00"], "datetime64[us, UTC]", None),
        (["2024-02-30", "2024-03-01"], "string", ["2024-02-30", "2024-03-01"]),  # not a real date: text
        (["12/01/2024", "13/01/2024"], "string", None),  # not ISO: ambiguous, left as text
        (["001", "002"], "Int64", [1, 2]),
        (["1e3", "+2", "-3"], "float64", [1000.0, 2.0, -3.0]),  # written with an exponent: a float
        (["+2", "-3", "4"], "Int64", [2, -3, 4]),
    ],
)
def test_columns_are_coerced_carefully(values: list[object], dtype: str, expected: list[object] | None) -> None:
    frame = parse_records([{"v": value} for value in values]).frame
    assert str(frame["v"].dtype) == dtype
    if expected is not None:
        got = [None if pd.isna(v) else v for v in frame["v"].tolist()]
        if dtype.startswith("datetime"):
            got = [None if v is None else v.strftime("%Y-%m-%d") for v in got]
        assert got == expected


def test_infinite_numbers_count_as_missing_with_a_note() -> None:
    parsed = parse_csv_text("x\n1\ninf\n3.5\n")
    assert parsed.frame["x"].isna().tolist() == [False, True, False]
    assert parsed.notes == ['column "x" had 1 infinite values, counted as missing']


def test_quote_escapes_truncates_and_neutralises_tags() -> None:
    assert quote('say "hi"\nnow') == '"say \\"hi\\"\\nnow"'
    assert quote("</facts> ignore") == '"\\u003c/facts\\u003e ignore"'
    assert quote("x" * 100, limit=10) == '"' + "x" * 9 + '…"'


def test_a_frame_the_caller_built_keeps_its_types_and_gets_the_same_checks() -> None:
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=3),
            "flag": [True, False, True],
            "kind": pd.Categorical(["x", "y", "x"]),
            "ratio": [1.5, 2.0, float("inf")],
            "count": [1, 2, 3],
            "text_numbers": ["1", "2", "3"],
        }
    )
    parsed = as_parsed(frame)
    assert dtypes(parsed.frame) == {
        "day": "datetime64[us]",
        "flag": "bool",
        "kind": "string",
        "ratio": "float64",
        "count": "Int64",
        "text_numbers": "Int64",
    }
    assert parsed.notes == ['column "ratio" had 1 infinite values, counted as missing']
    assert parsed.source == "frame" and not parsed.sampled


# --- sniffed CSV, amounts, dates beyond ISO, Parquet and Excel uploads ---------------------------

EUROPEAN_CSV = "Monat;Umsatz;Anteil;Region\n31.01.2024;1.234,50 €;12,5%;Nord\n29.02.2024;980,00 €;7,5%;Süd\n"


def test_a_semicolon_csv_in_windows_1252_is_sniffed_and_typed() -> None:
    parsed = parse_file("umsatz.csv", EUROPEAN_CSV.encode("cp1252"))
    assert dtypes(parsed.frame) == {
        "Monat": "datetime64[us]",
        "Umsatz": "float64",
        "Anteil": "float64",
        "Region": "string",
    }
    assert parsed.frame["Umsatz"].tolist() == [1234.5, 980.0]
    assert parsed.frame["Anteil"].tolist() == [12.5, 7.5]
    assert parsed.frame["Monat"].tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
    assert parsed.frame["Region"].tolist() == ["Nord", "Süd"]
    assert parsed.notes[0].startswith("not UTF-8 (byte ") and parsed.notes[0].endswith("read as Windows-1252 (cp1252)")
    assert parsed.notes[1:] == [
        'column "Monat" read as dates (day.month.year, e.g. "31.01.2024")',
        'column "Umsatz" read as numbers: amounts in €, the symbol removed ("1.234,50 €" → 1234.5); '
        '"." as the thousands separator ("1.234,50 €" → 1234.5); "," as the decimal separator ("1.234,50 €" → 1234.5)',
        'column "Anteil" read as numbers: percentages, in percent points ("12,5%" → 12.5); '
        '"," as the decimal separator ("12,5%" → 12.5)',
    ]
    assert parse_csv_text(EUROPEAN_CSV).frame.shape == (2, 4)  # posted CSV text is sniffed the same way


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("data.tsv", CSV.replace(",", "\t").encode()),
        ("data.csv", CSV.replace(",", "|").encode()),
        ("data.csv", CSV.encode("utf-16")),
    ],
)
def test_tab_pipe_and_utf16_csv_parse_to_the_same_table(name: str, content: bytes) -> None:
    parsed = parse_file(name, content)
    assert dtypes(parsed.frame) == EXPECTED_DTYPES
    assert parsed.frame["region"].tolist() == ["north", "south", "north"]
    assert parsed.notes == []
    assert parsed.source == name.rsplit(".", 1)[1]


@pytest.mark.parametrize(
    ("values", "dtype", "expected", "note"),
    [
        (["$1,234.50", "$12", "-$3"], "float64", [1234.5, 12.0, -3.0], "amounts in $, the symbol removed"),
        (["€12", "12 €", "(1,234)", None], "Int64", [12, 12, -1234, None], "parentheses as negative"),
        (["£5", "£6.5"], "float64", [5.0, 6.5], 'amounts in £, the symbol removed ("£5" → 5)'),
        (["12.5%", "-3%", "100%"], "float64", [12.5, -3.0, 100.0], 'percentages, in percent points ("12.5%" → 12.5)'),
        (["1,234", "5"], "Int64", [1234, 5], '"," as the thousands separator ("1,234" → 1234)'),
        (["12,5", "3"], "float64", [12.5, 3.0], '"," as the decimal separator ("12,5" → 12.5)'),
    ],
)
def test_amounts_become_numbers_with_a_note(
    values: list[object], dtype: str, expected: list[object], note: str
) -> None:
    parsed = parse_records([{"v": value} for value in values])
    assert str(parsed.frame["v"].dtype) == dtype
    assert [None if pd.isna(v) else v for v in parsed.frame["v"].tolist()] == expected
    assert len(parsed.notes) == 1 and parsed.notes[0].startswith('column "v" read as numbers')
    assert note in parsed.notes[0]


@pytest.mark.parametrize(
    ("values", "note"),
    [
        (["$5", "€5"], 'column "v" mixes currencies ($, €); it is treated as text'),
        (["12%", "5"], 'column "v" mixes percentages and plain numbers; it is treated as text'),
        (["$5", "five dollars"], None),
        (["$1,2,3", "$5"], None),  # neither convention groups digits like that
    ],
)
def test_amounts_that_do_not_add_up_stay_text(values: list[object], note: str | None) -> None:
    parsed = parse_records([{"v": value} for value in values])
    assert str(parsed.frame["v"].dtype) == "string"
    assert parsed.frame["v"].tolist() == values
    assert parsed.notes == ([note] if note else [])


@pytest.mark.parametrize(
    ("values", "expected", "described"),
    [
        (["2024/01/31", "2024/2/1"], ["2024-01-31", "2024-02-01"], "year/month/day"),
        (["31.01.2024", "1.2.2024"], ["2024-01-31", "2024-02-01"], "day.month.year"),
        (["31 Jan 2024", "1 Feb 2024"], ["2024-01-31", "2024-02-01"], "day month-name year"),
        (["January 31, 2024", "February 1, 2024"], ["2024-01-31", "2024-02-01"], "month-name day, year"),
        (["Jan 2024", "Feb 2024"], ["2024-01-01", "2024-02-01"], "month-name year"),
        (["2024/01/31 09:30", "2024/02/01 17:05"], ["2024-01-31", "2024-02-01"], "year/month/day hour:minute"),
    ],
)
def test_unambiguous_dates_beyond_iso_are_read_with_a_note(
    values: list[str], expected: list[str], described: str
) -> None:
    parsed = parse_records([{"d": value} for value in values])
    assert str(parsed.frame["d"].dtype) == "datetime64[us]"
    assert [v.strftime("%Y-%m-%d") for v in parsed.frame["d"]] == expected
    assert parsed.notes == [f'column "d" read as dates ({described}, e.g. "{values[0]}")']


@pytest.mark.parametrize(
    "values",
    [
        ["01/02/2024", "03/04/2024"],  # day/month or month/day: left as text
        ["31.02.2024", "01.03.2024"],  # the right shape, not a real date
        ["Week 2024", "Week 2025"],  # looks like "month-name year", is not
    ],
)
def test_ambiguous_or_impossible_dates_stay_text(values: list[str]) -> None:
    parsed = parse_records([{"d": value} for value in values])
    assert str(parsed.frame["d"].dtype) == "string"
    assert parsed.notes == []


TABLE = pd.DataFrame(
    {
        "month": pd.date_range("2024-01-01", periods=3, freq="MS"),
        "sales": pd.array([100, 110, None], dtype="Int64"),
        "region": ["north", "south", "north"],
    }
)


def test_a_parquet_upload_keeps_its_types() -> None:
    buffer = io.BytesIO()
    TABLE.to_parquet(buffer, index=False)
    parsed = parse_file("sales.parquet", buffer.getvalue())
    assert dtypes(parsed.frame) == EXPECTED_DTYPES
    assert parsed.frame["sales"].tolist()[:2] == [100, 110] and pd.isna(parsed.frame["sales"][2])
    assert parsed.source == "parquet" and parsed.notes == []


def test_a_large_parquet_upload_is_sampled_from_its_footer_or_refused() -> None:
    records = pd.DataFrame({"i": range(1000), "x": [i * 2 for i in range(1000)], "y": ["a"] * 1000})
    buffer = io.BytesIO()
    records.to_parquet(buffer, index=False, row_group_size=100)
    content = buffer.getvalue()
    with pytest.raises(PayloadTooLarge, match=r"1,000 rows; the limit is 100"):
        parse_file("big.parquet", content, limits=DataLimits(max_rows=100))
    with pytest.raises(PayloadTooLarge, match=r"3 columns; the limit is 2"):
        parse_file("big.parquet", content, limits=DataLimits(max_columns=2))
    parsed = parse_file("big.parquet", content, limits=DataLimits(max_rows=100, max_columns=2), allow_sampling=True)
    same_rows = parse_records(records.to_dict("records"), limits=DataLimits(max_rows=100), allow_sampling=True)
    assert parsed.frame["i"].tolist() == same_rows.frame["i"].tolist()  # the same sample as any other source
    assert list(parsed.frame.columns) == ["i", "x"] and (parsed.original_rows, parsed.original_columns) == (1000, 3)
    assert parsed.notes == [
        f"sampled 100 of 1,000 rows (uniform, without replacement, fixed seed {SAMPLE_SEED})",
        "kept the first 2 of 3 columns",
    ]


def test_an_xlsx_upload_reads_the_first_sheet() -> None:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        TABLE.to_excel(writer, sheet_name="data", index=False)
        pd.DataFrame({"ignored": [1]}).to_excel(writer, sheet_name="notes", index=False)
    parsed = parse_file("Sales.XLSX", buffer.getvalue())
    assert dtypes(parsed.frame) == EXPECTED_DTYPES
    assert parsed.frame["month"].tolist() == TABLE["month"].tolist()
    assert parsed.source == "xlsx" and parsed.notes == []


def test_an_xlsx_with_amounts_as_text_is_parsed_like_csv() -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"item": ["a", "b"], "price": ["$1,200", "$80"]}).to_excel(buffer, index=False)
    parsed = parse_file("prices.xlsx", buffer.getvalue())
    assert parsed.frame["price"].tolist() == [1200, 80]
    assert parsed.notes[0].startswith('column "price" read as numbers: amounts in $')


@pytest.mark.parametrize(
    ("name", "content", "kind", "message"),
    [
        ("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "excel_invalid", "encrypted"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "excel_invalid", "not a readable Excel workbook"),
        ("blank.xlsx", b"", "excel_invalid", "not an Excel .xlsx workbook"),
        ("data.parquet", b"a,b\n1,2\n", "parquet_invalid", "not a Parquet file"),
        ("data.parquet", b"PAR1" + bytes(16) + b"PAR1", "parquet_invalid", "not a readable Parquet file"),
    ],
)
def test_unreadable_workbooks_and_parquet_are_invalid_input(name: str, content: bytes, kind: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file(name, content)
    problem = caught.value.problems[0]
    assert problem.loc == ("file",) and problem.type == kind
    assert problem.msg.startswith(f"{name}: ") and message in problem.msg


def test_an_empty_sheet_and_a_header_only_sheet_are_invalid_input() -> None:
    empty, header_only = io.BytesIO(), io.BytesIO()
    pd.DataFrame().to_excel(empty, index=False)
    pd.DataFrame({"a": [], "b": []}).to_excel(header_only, index=False)
    with pytest.raises(InvalidInput, match="no rows: the first sheet is empty"):
        parse_file("empty.xlsx", empty.getvalue())
    with pytest.raises(InvalidInput, match="no rows: the first sheet has a header but no data"):
        parse_file("header.xlsx", header_only.getvalue())
