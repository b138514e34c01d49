"""Input → DataFrame: each input kind, each bad input, limits and sampling, careful typing."""

from __future__ import annotations

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
        ("a.csv", b"a,b\n\xff\xfe,1\n", "is not UTF-8 text"),
        ("a.json", b"42", "expected a list of records"),
        ("a.json", b'"text"', "got a string"),
        ("a.json", b"[1, 2]", "row 0 is a number"),
        ("a.json", b'{"rows": []}', 'hold the rows under "data"'),
        ("a.json", b'{"data": []}', "no rows"),
        ("a.json", b"{not json", "is not valid JSON"),
        ("a.jsonl", b'{"a": 1}\n[1]\n', "row 1 is an array"),
        ("a.jsonl", b'{"a": 1}\n{oops\n', "line 2 is not JSON"),
    ],
)
def test_bad_files_are_invalid_input(name: str, content: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file(name, content)
    assert message in caught.value.message
    assert caught.value.problems[0].loc[0] == "file"


def test_an_unknown_suffix_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFileType, match=r"'data\.xlsx': cannot analyse \.xlsx; supported: \.csv, \.json"):
        parse_file("data.xlsx", b"x")


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
