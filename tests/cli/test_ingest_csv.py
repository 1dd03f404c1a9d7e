"""`torchtrader ingest csv PATH --symbol SYM`: the CLI contract of issue 2, case by case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

GOOD_ROWS = [
    ("2024-01-02", 100.0, 101.0, 99.0, 100.5, 1000),
    ("2024-01-03", 100.5, 102.0, 100.0, 101.5, 1100),
    ("2024-01-04", 101.5, 103.0, 101.0, 102.0, 900),
    ("2024-01-05", 102.0, 102.5, 100.5, 101.0, 1200),
]
HEADER = "Date,Open,High,Low,Close,Volume"


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def good_lines() -> list[str]:
    return [HEADER] + [",".join(str(v) for v in row) for row in GOOD_ROWS]


def bars_state(cli: Any) -> list[dict[str, Any]]:
    listed = cli("data", "list", "--json")
    assert listed.code == 0, listed.err
    # age_s moves with the clock; the lake's state is everything else
    return [{k: v for k, v in row.items() if k != "age_s"} for row in listed.json()]


def test_good_file_lands_and_reingest_adds_nothing(cli: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "acme.csv", good_lines())
    first = cli("ingest", "csv", str(path), "--symbol", "ACME", "--json")
    assert first.code == 0, first.err
    assert first.json()["reports"][0]["rows_added"] == 4
    again = cli("ingest", "csv", str(path), "--symbol", "ACME", "--json")
    assert again.code == 0, again.err
    assert again.json()["reports"][0]["rows_added"] == 0
    [series] = bars_state(cli)
    assert (series["symbol"], series["rows"], series["timeframe"]) == ("ACME", 4, "1d")
    assert series["first"].startswith("2024-01-02T00:00:00")
    shown = cli("data", "show", "--symbol", "ACME", "--json").json()
    assert [bar["close"] for bar in shown["bars"]] == [row[4] for row in GOOD_ROWS]


def test_epoch_millisecond_timestamps(cli: Any, tmp_path: Path) -> None:
    lines = [
        "timestamp,open,high,low,close,volume",
        "1704067200000,1,2,0.5,1.5,10",
        "1704070800000,1.5,2,1,1.8,5",
    ]
    result = cli(
        "ingest",
        "csv",
        str(write_csv(tmp_path / "ms.csv", lines)),
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
    )
    assert result.code == 0, result.err
    [series] = bars_state(cli)
    assert series["first"].startswith("2024-01-01T00:00:00") and series["rows"] == 2


def test_unsorted_rows_are_sorted_and_exact_duplicates_collapsed(cli: Any, tmp_path: Path) -> None:
    lines = good_lines()
    shuffled = [lines[0], lines[3], lines[1], lines[4], lines[2], lines[1]]
    result = cli("ingest", "csv", str(write_csv(tmp_path / "u.csv", shuffled)), "--symbol", "ACME")
    assert result.code == 0, result.err
    shown = cli("data", "show", "--symbol", "ACME", "--json").json()
    assert [bar["close"] for bar in shown["bars"]] == [row[4] for row in GOOD_ROWS]


# (case, lines, the line the error must name, words the reason must contain)
BAD_FILES: list[tuple[str, list[str], int | None, str]] = [
    ("missing column", ["Date,Open,High,Low,Close", "2024-01-02,1,2,0.5,1.5"], None, "volume"),
    ("unparsable number", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-03,1,abc,0.5,1.5,10"], 3, ""),
    ("unparsable date", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "not-a-date,1,2,0.5,1.5,10"], 3, ""),
    ("empty file", [""], None, "empty"),
    ("header only", [HEADER], None, ""),
    ("NaN price", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-03,1,2,0.5,NaN,10"], 3, ""),
    ("high below low", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-03,1,0.4,0.5,1,10"], 3, "high"),
    ("non-positive price", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-03,0,2,0,1,10"], 3, ""),
    ("negative volume", [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-03,1,2,0.5,1.5,-5"], 3, "volume"),
    (
        "conflicting duplicate timestamp",
        [HEADER, "2024-01-02,1,2,0.5,1.5,10", "2024-01-02,1,2,0.5,1.7,10"],
        2,
        "",
    ),
    (
        "mixed timezones",
        [HEADER, "2024-01-02T00:00:00+00:00,1,2,0.5,1.5,10", "2024-01-03T00:00:00,1,2,0.5,1.5,10"],
        3,
        "",
    ),
]


@pytest.mark.parametrize(("case", "lines", "bad_line", "words"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_is_refused_whole_with_one_line(
    cli: Any, tmp_path: Path, case: str, lines: list[str], bad_line: int | None, words: str
) -> None:
    # A good series already in the lake must come through untouched.
    assert (
        cli("ingest", "csv", str(write_csv(tmp_path / "good.csv", good_lines())), "--symbol", "GOOD").code
        == 0
    )
    before = bars_state(cli)
    path = write_csv(tmp_path / "bad_input.csv", lines)

    result = cli("ingest", "csv", str(path), "--symbol", "BAD")

    assert result.code != 0, case
    message = result.err.strip()
    assert "\n" not in message and message.startswith("error:"), message
    assert "Traceback" not in result.err and "bad_input.csv" in message
    if bad_line is not None:
        assert f"line {bad_line}" in message
    assert words.lower() in message.lower()
    assert bars_state(cli) == before


def test_quarantine_invalid_ingests_the_rest(cli: Any, tmp_path: Path) -> None:
    lines = good_lines()
    lines.insert(2, "2024-01-08,1,0.4,0.5,1,10")  # high < low
    result = cli(
        "ingest",
        "csv",
        str(write_csv(tmp_path / "q.csv", lines)),
        "--symbol",
        "ACME",
        "--quarantine-invalid",
        "--json",
    )
    assert result.code == 0, result.err
    report = result.json()["reports"][0]
    assert (report["rows_added"], report["rows_quarantined"]) == (4, 1)
    quarantined = cli("sql", "SELECT symbol, reason FROM quarantine", "--json").json()
    assert len(quarantined) == 1 and quarantined[0]["symbol"] == "ACME"
    assert "high" in quarantined[0]["reason"].lower()
