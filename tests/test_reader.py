"""The one reader: encodings, CSV delimiters, JSON/JSONL, Parquet, Excel and the folder walk."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from insight.errors import InvalidDocument
from insight.reader import (
    ParquetTable,
    decode_text,
    load_json,
    load_jsonl,
    read_excel,
    sniff_delimiter,
    walk_folder,
)

# --- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"a,b\n1,2\n", "a,b\n1,2\n", "utf-8"),
        ("\ufeffnaïve,x\n".encode(), "naïve,x\n", "utf-8-sig"),  # the BOM is dropped
        ("naïve;x\n".encode("utf-16"), "naïve;x\n", "utf-16"),  # little-endian with its BOM
        ("\ufeffnaïve".encode("utf-16-be"), "naïve", "utf-16"),
        ("naïve".encode("utf-32"), "naïve", "utf-32"),  # its BOM starts like UTF-16 LE's
    ],
)
def test_unicode_is_read_by_its_bom_or_as_utf8_without_a_note(data: bytes, text: str, encoding: str) -> None:
    decoded = decode_text(data, "f.csv")
    assert (decoded.text, decoded.encoding, decoded.notes) == (text, encoding, ())


def test_a_windows_1252_file_is_read_as_such_and_noted() -> None:
    data = "name;price\nCafé;5 €\nCrème brûlée;7 €\n".encode("cp1252")
    decoded = decode_text(data, "menu.csv")
    assert decoded.text == "name;price\nCafé;5 €\nCrème brûlée;7 €\n"
    assert decoded.encoding == "cp1252"
    assert decoded.notes == ("not UTF-8 (byte 14): read as Windows-1252 (cp1252)",)


def test_bytes_windows_1252_leaves_undefined_fall_back_to_latin_1() -> None:
    decoded = decode_text(b"caf\xe9 \x81", "x.txt")  # 0x81 is undefined in cp1252
    assert (decoded.text, decoded.encoding) == ("café \x81", "latin-1")
    assert decoded.notes == ("not UTF-8 (byte 3): read as Latin-1 (ISO-8859-1)",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00", r"zip\.csv: binary data, not text"),
        ("ab".encode("utf-16-le"), r"binary data, not text \(UTF-16 text needs a byte-order mark\)"),
        (b"\xff\xfea\x00b", r"starts with a UTF-16 byte-order mark but is not valid UTF-16"),
    ],
)
def test_binary_or_contradicted_bytes_are_not_text(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        decode_text(data, "zip.csv")


# --- CSV delimiters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("name;price;note\nx;1,5;a, b\ny;2,5;c\n", ";"),  # decimal commas inside a semicolon file
        ("a\tb\n1\t2\n3\t4\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('id,text\n1,"hello; world"\n2,"x; y"\n', ","),
        ("a;b\n1;2\n3;4;5\n", ";"),  # ragged rows defeat csv.Sniffer: the header line decides
        ("x\n1\n2\n", ","),  # one column: nothing to sniff, the default
    ],
)
def test_the_delimiter_is_sniffed(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


def test_a_one_column_file_gets_the_given_default() -> None:
    assert sniff_delimiter("x\n1\n", default="\t") == "\t"


def test_sniffing_looks_at_whole_lines_of_a_long_file() -> None:
    text = "a;b\n" + "10;20\n" * 20_000
    assert len(text) > 64 * 1024
    assert sniff_delimiter(text) == ";"


# --- JSON and JSON Lines -------------------------------------------------------------------------


def test_json_and_jsonl_values() -> None:
    assert load_json(b'\xef\xbb\xbf[{"a": 1}]', "x.json") == [{"a": 1}]
    assert load_json('{"a": "é"}'.encode("utf-16"), "x.json") == {"a": "é"}
    rows = load_jsonl(b'{"a": 1}\n\n  \n{"a": "x\xe2\x80\xa8y"}\r\n', "x.jsonl")
    assert rows == [(1, {"a": 1}), (4, {"a": "x\u2028y"})]  # U+2028 inside a string does not end a line


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}\n{"a": 2}\n{"a": }\n', r"c\.jsonl: invalid JSON at line 3, column 7 \(Expecting value\)"),
        (b'{"a": 1}\n\n{oops\n', r"c\.jsonl: invalid JSON at line 3, column 2"),
        (b'{"a": 1}\n{"a": 2} {"b": 3}\n', r"c\.jsonl: invalid JSON at line 2, column 10 \(Extra data\)"),
        ('{"a": "é"}'.encode("latin-1"), r"c\.jsonl: not valid UTF-8 JSON \(byte 7\)"),
        (b"[" * 100_000, r"c\.jsonl: JSON nested too deeply at line 1"),
    ],
)
def test_jsonl_errors_name_the_file_and_line(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        load_jsonl(data, "c.jsonl")


def test_json_errors_name_the_line_and_column() -> None:
    with pytest.raises(InvalidDocument, match=r"d\.json: invalid JSON at line 2, column 7 \(Expecting value\)"):
        load_json(b'[\n{"a": }]', "d.json")


# --- tables --------------------------------------------------------------------------------------

FRAME = pd.DataFrame(
    {
        "day": pd.date_range("2024-01-01", periods=5, freq="D"),
        "region": ["north", "south", None, "north", "east"],
        "units": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "price": [1.5, 2.25, 3.0, 4.0, 5.5],
        "flag": [True, False, True, True, False],
    }
)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_parquet_round_trip_keeps_types_and_integers_with_gaps() -> None:
    table = ParquetTable(parquet_bytes(FRAME), "t.parquet")
    assert (table.rows, table.columns) == (5, ["day", "region", "units", "price", "flag"])
    frame = table.read()
    assert str(frame["units"].dtype) == "Int64" and frame["units"].isna().tolist() == [False, True, False, False, False]
    assert frame["price"].tolist() == FRAME["price"].tolist()
    assert frame["day"].tolist() == FRAME["day"].tolist()
    assert frame["flag"].tolist() == FRAME["flag"].tolist()


def test_parquet_reads_only_the_chosen_rows_and_columns_across_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("insight.reader.PARQUET_BATCH_ROWS", 7)  # many batches for 50 rows
    big = pd.DataFrame({"i": range(50), "j": [i * 10 for i in range(50)], "k": ["x"] * 50})
    frame = ParquetTable(parquet_bytes(big), "big.parquet").read(positions=[0, 6, 7, 8, 30, 49], columns=2)
    assert list(frame.columns) == ["i", "j"]
    assert frame["i"].tolist() == [0, 6, 7, 8, 30, 49]
    assert frame["j"].tolist() == [0, 60, 70, 80, 300, 490]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n1,2\n", r"x\.parquet: not a Parquet file"),
        (b"PAR1" + b"\x00" * 20 + b"PAR1", r"x\.parquet: not a readable Parquet file \("),
    ],
)
def test_unreadable_parquet_is_invalid(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        ParquetTable(data, "x.parquet")


def test_parquet_nested_columns_are_refused() -> None:
    table = ParquetTable(parquet_bytes(pd.DataFrame({"a": [1, 2], "tags": [["x"], ["y", "z"]]})), "n.parquet")
    with pytest.raises(InvalidDocument, match=r"n\.parquet: column 'tags' holds nested values"):
        table.read()
    assert table.read(columns=1)["a"].tolist() == [1, 2]  # the flat columns before it still read


def xlsx_bytes(frame: pd.DataFrame, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_excel_round_trip_reads_the_first_sheet_as_written() -> None:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        FRAME.to_excel(writer, sheet_name="first", index=False)
        pd.DataFrame({"other": [1]}).to_excel(writer, sheet_name="second", index=False)
    grid = read_excel(buffer.getvalue(), "book.xlsx")
    assert grid.iloc[0].tolist() == ["day", "region", "units", "price", "flag"]  # the header is a row
    assert grid.shape == (6, 5)
    assert grid.iloc[1, 0] == pd.Timestamp("2024-01-01") and grid.iloc[1, 3] == 1.5 and grid.iloc[2, 4] is False
    assert pd.isna(grid.iloc[3, 1])


def test_excel_blank_rows_and_columns_are_dropped() -> None:
    data = xlsx_bytes(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), startrow=2, startcol=1)
    grid = read_excel(data, "offset.xlsx")
    assert grid.values.tolist() == [["a", "b"], [1, "x"], [2, "y"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504,  # the compound-file signature of an encrypted workbook
            r"e\.xlsx: an encrypted \(password-protected\) workbook or a legacy \.xls file",
        ),
        (b"name,value\n", r"e\.xlsx: not an Excel \.xlsx workbook"),
        (b"PK\x03\x04 truncated zip", r"e\.xlsx: not a readable Excel workbook \("),
    ],
)
def test_unreadable_excel_is_invalid(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        read_excel(data, "e.xlsx")


# --- the folder walk -----------------------------------------------------------------------------


def test_walk_finds_supported_files_recursively_sorted_by_id(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ("b/deep/z.md", "b/a.TXT", "a.md", "skip.exe", "b/deep/y.pdf"):
        (tmp_path / name).write_text("x")
    walk = walk_folder(tmp_path, {".md", ".txt"})
    assert [doc_id for _, doc_id in walk.files] == ["a.md", "b/a.TXT", "b/deep/z.md"]
    assert all(path == tmp_path / doc_id for path, doc_id in walk.files)
    assert walk.skipped == []


def test_walk_skips_links_that_leave_the_root_and_says_why(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("salaries")
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "note.md").write_text("note")
    (root / "leak.md").symlink_to(outside / "secret.md")
    (root / "inside.md").symlink_to(root / "sub" / "note.md")  # a link within the root is kept
    (root / "linked-dir").symlink_to(outside, target_is_directory=True)
    (root / "broken.md").symlink_to(tmp_path / "missing.md")
    walk = walk_folder(root, {".md"})
    assert [doc_id for _, doc_id in walk.files] == ["inside.md", "sub/note.md"]
    reasons = {path.name: why for path, why in walk.skipped}
    assert reasons["leak.md"] == f"a link to {(outside / 'secret.md').resolve()}, outside {root}"
    assert reasons["linked-dir"].startswith("a link to a folder") and "not followed" in reasons["linked-dir"]
    assert reasons["broken.md"].endswith(f"outside {root}")
    assert set(reasons) == {"leak.md", "linked-dir", "broken.md"}


def test_a_folder_that_cannot_be_read_is_reported_not_fatal(tmp_path: Path) -> None:
    missing = tmp_path / "gone"  # removed between the caller's check and the walk
    walk = walk_folder(missing, {".md"})
    assert walk.files == []
    assert walk.skipped == [(missing, "cannot be read (No such file or directory)")]
