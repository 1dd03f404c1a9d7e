"""Refused rows become quarantine rows; the suite's results render as GX Data Docs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from tests.quality.conftest import MakeBars
from torchtrader.errors import DataError
from torchtrader.lake.schema import QUARANTINE_SCHEMA
from torchtrader.quality import build_data_docs, quarantine_frame, validate_bars

ROWS = [
    ("2024-01-01T00:00", 10, 11, 9, 10.5, 100),
    ("2024-01-01T01:00", math.nan, 11, 9, 10.5, 100),
    ("2024-01-01T02:00", 10, 11, 9, 10.5, -1),
]


def test_quarantine_rows_keep_the_values_the_reason_and_the_origin(make_bars: MakeBars) -> None:
    at = datetime(2024, 2, 3, 4, 5, tzinfo=UTC)
    report = validate_bars(make_bars(ROWS), run_gx=False)
    in_paris = at.astimezone(timezone(timedelta(hours=1)))
    quarantined = quarantine_frame(report, origin="data/btc.csv", quarantined_at=in_paris)

    assert quarantined.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert quarantined["reason"].to_list() == ["open is null or NaN", "volume is negative"]
    assert quarantined["origin"].to_list() == ["data/btc.csv"] * 2
    assert quarantined["quarantined_at"].to_list() == [at, at]
    assert math.isnan(quarantined["open"][0])
    assert quarantined["volume"].to_list() == [100.0, -1.0]


def test_a_clean_report_quarantines_nothing(make_bars: MakeBars) -> None:
    quarantined = quarantine_frame(validate_bars(make_bars(ROWS[:1]), run_gx=False), origin="x")
    assert quarantined.is_empty()
    assert quarantined.schema == pl.Schema(QUARANTINE_SCHEMA)


def test_data_docs_render_the_bars_suite_and_each_validation(
    make_bars: MakeBars, sp500: pl.DataFrame, tmp_path: Path
) -> None:
    unsorted = make_bars([ROWS[2], ROWS[0], ROWS[0]])
    index = build_data_docs([("sp500", sp500), ("csv:BTC/USDT:1h", make_bars(ROWS))], tmp_path / "docs")
    assert build_data_docs([("unsorted", unsorted)], tmp_path / "docs") == index  # adds to the site

    assert index.name == "index.html"
    assert index.is_relative_to(tmp_path / "docs")
    html = index.read_text()
    assert "torchtrader-bars" in html
    pages = sorted(p.relative_to(index.parent).as_posix() for p in index.parent.rglob("*.html"))
    assert "expectations/torchtrader-bars.html" in pages
    runs = [page for page in pages if page.startswith("validations/torchtrader-bars/")]
    assert sorted(page.split("/")[2] for page in runs) == ["csv_BTC-USDT_1h", "sp500", "unsorted"]
    suite_page = (index.parent / "expectations" / "torchtrader-bars.html").read_text()
    assert "ts_step_us" in suite_page
    assert "high" in suite_page


def test_data_docs_need_at_least_one_frame(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no bars frames to document"):
        build_data_docs([], tmp_path / "docs")
