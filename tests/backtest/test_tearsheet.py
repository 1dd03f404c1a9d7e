"""The tearsheet is one self-contained HTML file with the four sections and their traces."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.results import BacktestResult
from torchtrader.backtest.tearsheet import SECTION_IDS, monthly_returns, write_tearsheet
from torchtrader.strategies import Bars, load_strategy
from torchtrader.testing import market


@pytest.fixture(scope="module")
def sample_frame() -> pl.DataFrame:
    return market.sample_frame("SPX", date(2016, 1, 1), date(2018, 12, 31))


@pytest.fixture(scope="module")
def result(sample_frame: pl.DataFrame) -> BacktestResult:
    strategy = load_strategy("sma_cross")()
    config = BacktestConfig(fee=0.0005, slippage_bps=2)
    return run_backtrader(strategy, Bars.from_frame(sample_frame), None, config)


def test_tearsheet_is_written_with_every_section(
    tmp_path: Path, result: BacktestResult, sample_frame: pl.DataFrame
) -> None:
    path = write_tearsheet(result, sample_frame, tmp_path / "out" / "sheet.html")
    assert path == tmp_path / "out" / "sheet.html"
    page = path.read_text(encoding="utf-8")
    for div_id in SECTION_IDS:
        assert f'id="{div_id}"' in page
    for trace in (
        '"name":"equity"',
        '"name":"drawdown"',
        '"name":"close"',
        '"name":"exit"',
        '"name":"trades"',
    ):
        assert trace in page
    assert '"type":"heatmap"' in page
    assert "sma_cross on SPX 1d" in page
    assert not list(path.parent.glob("*.tmp"))


def test_tearsheet_needs_no_network(
    tmp_path: Path, result: BacktestResult, sample_frame: pl.DataFrame
) -> None:
    page = write_tearsheet(result, Bars.from_frame(sample_frame), tmp_path / "sheet.html").read_text()
    # plotly.js is embedded (not fetched from a CDN), and no script or stylesheet comes from elsewhere
    assert re.search(r"plotly\.js v\d+\.\d+", page)
    assert page.count("plotly.js v") == 1  # embedded once, shared by the four figures
    assert not re.search(r"<script[^>]+src=\"https?://", page)
    assert not re.search(r"<link[^>]+href=\"https?://", page)


def test_monthly_returns_compound_from_the_previous_month_end() -> None:
    from datetime import UTC, datetime

    equity = pl.DataFrame(
        {
            "ts": [
                datetime(2020, 1, 2, tzinfo=UTC),
                datetime(2020, 1, 31, tzinfo=UTC),
                datetime(2020, 2, 3, tzinfo=UTC),
                datetime(2020, 2, 28, tzinfo=UTC),
                datetime(2020, 3, 2, tzinfo=UTC),
            ],
            "equity": [100.0, 110.0, 100.0, 99.0, 108.9],
        }
    )
    table = monthly_returns(equity)
    assert table["month"].to_list() == [1, 2, 3]
    assert table["ret"].to_list() == pytest.approx([0.10, 99.0 / 110.0 - 1, 0.10])
