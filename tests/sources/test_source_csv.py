"""CSV import contract: what parses, and for bad input a one-line DataError naming file, line and reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from torchtrader.errors import DataError, SourceError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources import get_source, read_csv_bars
from torchtrader.testing.fixtures import fixture_path

HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "1,2,0.5,1.5,100"


def write(tmp_path: Path, text: str | bytes, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# (case id, file content, first bad line, words the reason must contain)
BAD_FILES = [
    ("empty file", "", 1, "empty file"),
    ("blank lines only", "\n\n  \n", 1, "empty file"),
    ("header only", HEADER, 1, "header only"),
    (
        "missing volume",
        "timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n",
        1,
        "missing column(s) volume",
    ),
    (
        "missing timestamp",
        "open,high,low,close,volume\n1,2,0.5,1.5,100\n",
        1,
        "timestamp (or date/datetime/time)",
    ),
    (
        "unparsable number",
        HEADER + f"2024-01-01,{ROW}\n2024-01-02,1,abc,0.5,1.5,100\n",
        3,
        "cannot parse high 'abc'",
    ),
    ("number with comma decimal", HEADER + '2024-01-01,"1,5",2,0.5,1.5,100\n', 2, "cannot parse open '1,5'"),
    (
        "unparsable date",
        HEADER + f"2024-01-01,{ROW}\n2024-13-45,{ROW}\n",
        3,
        "cannot parse timestamp '2024-13-45'",
    ),
    ("garbage date", HEADER + f"yesterday,{ROW}\n", 2, "cannot parse timestamp 'yesterday'"),
    ("empty date", HEADER + f"2024-01-01,{ROW}\n,{ROW}\n", 3, "empty timestamp"),
    (
        "ragged line",
        HEADER + f"2024-01-01,{ROW}\n2024-01-02,1,2\n",
        3,
        "expected 6 fields like the header, found 3",
    ),
    (
        "naive then offset",
        HEADER + f"2024-01-01T00:00:00,{ROW}\n2024-01-01T01:00:00+02:00,{ROW}\n",
        3,
        "mixed timezones: offset +02:00 here but no UTC offset on the first row",
    ),
    (
        "offset then naive",
        HEADER + f"2024-01-01T00:00:00Z,{ROW}\n2024-01-01T01:00:00Z,{ROW}\n2024-01-01 02:00,{ROW}\n",
        4,
        "mixed timezones: no UTC offset here but offset +00:00 on the first row",
    ),
    (
        "different offsets",
        HEADER + f"2024-03-30T00:00:00+01:00,{ROW}\n2024-03-31T00:00:00+02:00,{ROW}\n",
        3,
        "mixed timezones: offset +02:00 here but offset +01:00",
    ),
    (
        "epoch mixed with ISO",
        HEADER + f"1704067200000,{ROW}\n2024-01-02,{ROW}\n",
        3,
        "mixed timezones: no UTC offset here but epoch milliseconds on the first row",
    ),
    ("epoch seconds", HEADER + f"1704067200,{ROW}\n", 2, "too small for epoch milliseconds"),
    ("compact date", HEADER + f"20240101,{ROW}\n", 2, "too small for epoch milliseconds"),
    (
        "ambiguous columns",
        "timestamp,open,Open,high,low,close,volume\n2024-01-01,1,1,2,0.5,1.5,100\n",
        1,
        "ambiguous columns open, Open",
    ),
    (
        "first of several problems wins",
        HEADER + f"2024-01-01,{ROW}\n2024-01-02,x,2,0.5,1.5,100\nbad,{ROW}\n",
        3,
        "open",
    ),
    (
        "bad line counted after a blank line",
        HEADER + f"2024-01-01,{ROW}\n\n2024-01-03,1,2,0.5,z,100\n",
        4,
        "close 'z'",
    ),
    (
        "bad line counted after a quoted multi-line field",
        "timestamp,open,high,low,close,volume,note\n"
        f'2024-01-01,{ROW},"two\nlines"\n2024-01-02,1,2,0.5,1.5,oops,x\n',
        4,
        "volume 'oops'",
    ),
]


@pytest.mark.parametrize(
    ("content", "line", "reason"), [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_csv_names_file_line_and_reason(tmp_path: Path, content: str, line: int, reason: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        read_csv_bars(path, symbol="X")
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}: ")
    assert reason in message
    assert "\n" not in message


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 2: not UTF-8"):
        read_csv_bars(write(tmp_path, HEADER.encode() + b"2024-01-01,\xff\xfe,2,0.5,1.5,100\n"), symbol="X")
    with pytest.raises(DataError, match="cannot read file"):
        read_csv_bars(tmp_path / "absent.csv", symbol="X")


def test_iso_dates_become_utc_midnight_bars(tmp_path: Path) -> None:
    read = read_csv_bars(fixture_path("bars_daily.csv"), symbol="ACME", timeframe="1d")
    assert read.frame.schema == BARS_SCHEMA
    assert read.frame["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 3), utc(2024, 1, 4)]
    assert read.frame.row(0) == ("csv", "ACME", "1d", utc(2024, 1, 2), 100.0, 101.5, 99.5, 101.0, 1200.0)
    assert list(read.lines) == [2, 3, 4]


def test_epoch_milliseconds(tmp_path: Path) -> None:
    read = read_csv_bars(write(tmp_path, HEADER + f"1704067200000,{ROW}\n1704067260000,{ROW}\n"), symbol="X")
    assert read.frame["ts"].to_list() == [utc(2024, 1, 1), utc(2024, 1, 1, 0, 1)]


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (
            ["2024-01-01T10:00:00+05:30", "2024-01-01T11:00:00+05:30"],
            [utc(2024, 1, 1, 4, 30), utc(2024, 1, 1, 5, 30)],
        ),
        (
            ["2024-01-01T10:00:00-0500", "2024-01-01T11:00:00-05:00"],
            [utc(2024, 1, 1, 15), utc(2024, 1, 1, 16)],
        ),
        (["2024-01-01T10:00:00Z", "2024-01-01 11:00:00+00:00"], [utc(2024, 1, 1, 10), utc(2024, 1, 1, 11)]),
        (
            ["2024-01-01 10:00", "2024-01-01T11:00:00.250"],
            [utc(2024, 1, 1, 10), datetime(2024, 1, 1, 11, 0, 0, 250000, UTC)],
        ),
        (["2024-01-01", "2024-01-01T12:00:00"], [utc(2024, 1, 1), utc(2024, 1, 1, 12)]),
        (
            ["2024-01-01T10:00:00Z", "2024-01-01T11:00:00.250Z"],
            [utc(2024, 1, 1, 10), datetime(2024, 1, 1, 11, 0, 0, 250000, UTC)],
        ),
    ],
    ids=[
        "+05:30",
        "-05:00 both spellings",
        "Z equals +00:00",
        "naive is UTC",
        "dates and naive datetimes",
        "fractions after whole seconds",
    ],
)
def test_iso_datetimes_with_and_without_offsets(
    tmp_path: Path, stamps: list[str], expected: list[datetime]
) -> None:
    text = HEADER + "".join(f"{stamp},{ROW}\n" for stamp in stamps)
    assert read_csv_bars(write(tmp_path, text), symbol="X").frame["ts"].to_list() == expected


@pytest.mark.parametrize("time_column", ["timestamp", "Date", "DATETIME", "time", " date "])
def test_headers_are_case_insensitive_and_extra_columns_ignored(tmp_path: Path, time_column: str) -> None:
    text = f"{time_column},Adj Close,OPEN,High,low,Close,Volume\n2024-01-01,9,1,2,0.5,1.5,100\n"
    read = read_csv_bars(write(tmp_path, text), symbol="X")
    assert read.frame.select("ts", "open", "high", "low", "close", "volume").row(0) == (
        utc(2024, 1, 1),
        1.0,
        2.0,
        0.5,
        1.5,
        100.0,
    )


def test_crlf_bom_and_padding(tmp_path: Path) -> None:
    text = (
        "\ufeffDate,Open,High,Low,Close,Volume\r\n"
        " 2024-01-01 , 1 ,2,0.5,1.5,100\r\n"
        "2024-01-02,1,2,0.5,1.5,100\r\n"
    )
    read = read_csv_bars(write(tmp_path, text.encode("utf-8")), symbol="X")
    assert read.frame["ts"].to_list() == [utc(2024, 1, 1), utc(2024, 1, 2)]
    assert read.frame["open"].to_list() == [1.0, 1.0]


def test_value_problems_are_left_to_validation_with_line_numbers(tmp_path: Path) -> None:
    """NaN, high < low, duplicates, unsorted rows and empty cells parse; `lines` maps rows to the file."""
    text = (
        HEADER
        + "2024-01-03,1,2,0.5,1.5,100\n"
        + "\n"
        + "2024-01-01,nan,2,0.5,1.5,100\n"
        + "2024-01-02,1,0.5,2,1.5,\n"
        + "2024-01-02,1,0.5,2,1.5,\n"
    )
    read = read_csv_bars(write(tmp_path, text), symbol="X")
    assert read.frame["ts"].to_list() == [utc(2024, 1, 3), utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 2)]
    assert np.isnan(read.frame["open"][1])
    assert read.frame["volume"].to_list()[2:] == [None, None]
    assert read.lines.tolist() == [2, 4, 5, 6]


def test_quoted_fields_take_the_exact_path_with_the_same_result(tmp_path: Path) -> None:
    plain = read_csv_bars(
        write(tmp_path, HEADER + f"2024-01-01,{ROW}\n2024-01-02,{ROW}\n", "a.csv"), symbol="X"
    )
    quoted = read_csv_bars(
        write(tmp_path, HEADER + f'"2024-01-01",{ROW}\n2024-01-02,"1",2,0.5,1.5,100\n', "b.csv"), symbol="X"
    )
    assert quoted.frame.equals(plain.frame)
    assert quoted.lines.tolist() == plain.lines.tolist() == [2, 3]


def test_csv_source_fetch_sorts_and_clips(tmp_path: Path) -> None:
    text = HEADER + f"2024-01-03,{ROW}\n2024-01-01,{ROW}\n2024-01-02,{ROW}\n"
    source = get_source("csv", path=write(tmp_path, text))
    bars = source.fetch("X", "1d", start=utc(2024, 1, 2))
    assert bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 3)]
    assert source.fetch("X", "1d", end=utc(2024, 1, 2))["ts"].to_list() == [utc(2024, 1, 1)]
    assert bars["source"].unique().to_list() == ["csv"]
    with pytest.raises(SourceError, match="cannot list"):
        source.symbols()
    with pytest.raises(SourceError, match="needs a path"):
        get_source("csv")


def test_large_file_parses_with_exact_line_numbers(tmp_path: Path) -> None:
    n = 50_000
    stamps = pl.datetime_range(
        utc(2020, 1, 1),
        utc(2020, 1, 1) + (n - 1) * (utc(2020, 1, 1, 0, 1) - utc(2020, 1, 1)),
        "1m",
        eager=True,
    )
    frame = pl.DataFrame(
        {
            "timestamp": stamps.dt.epoch("ms"),
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
            "volume": 3.0,
        }
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    read = read_csv_bars(path, symbol="X", timeframe="1m")
    assert read.frame.height == n
    assert read.frame["ts"].to_list()[-1] == stamps[-1]
    assert read.lines[0] == 2 and read.lines[-1] == n + 1
