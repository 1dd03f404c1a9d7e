"""Portfolios from the CLI (several --symbol, --weights) and the buy-and-hold benchmark beside every result.

Benchmark golden numbers are computed here with pandas from the lake's closes (buy at the first close
of the range, hold to the last; Sharpe = mean / std(ddof=1) of daily returns × √252, risk-free 0).
Data: real S&P 500 and NASDAQ daily bars (arch.data via the offline sample source), 2016–2018.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.portfolio import run_portfolio
from torchtrader.backtest.tearsheet import benchmark_curve
from torchtrader.lake import Lake
from torchtrader.strategies import Bars, load_strategy, parse_params
from torchtrader.testing.market import sample_frame

FIRST, LAST = date(2016, 1, 1), date(2018, 12, 31)


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    lake = Lake(str(tmp_path_factory.mktemp("portfolio") / "lake"))
    lake.upsert_bars(sample_frame("SPX", FIRST, LAST))
    lake.upsert_bars(sample_frame("IXIC", FIRST, LAST))
    return lake.uri


@pytest.fixture
def cli(run_cli: Callable[..., Any], lake_root: str) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        return run_cli(lake_root, *args)

    return run


def closes(symbol: str, start: datetime | None = None, end: datetime | None = None) -> pd.Series:
    frame = sample_frame(symbol, FIRST, LAST).to_pandas().set_index("ts")["close"]
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame.index < pd.Timestamp(end)]
    return frame


def golden(curve: pd.Series) -> dict[str, float]:
    returns = curve.pct_change().dropna()
    return {
        "total_return": curve.iloc[-1] / curve.iloc[0] - 1,
        "sharpe": returns.mean() / returns.std(ddof=1) * math.sqrt(252),
        "max_drawdown": float((1 - curve / curve.cummax()).max()),
    }


def assert_benchmark(doc: dict[str, Any], want: dict[str, float]) -> None:
    for name, value in want.items():
        assert doc[name] == pytest.approx(value, rel=1e-9), name


@pytest.mark.parametrize("command", ["backtest", "sweep"])
@pytest.mark.parametrize(
    ("range_args", "start", "end"),
    [([], None, None), (["--start", "2017-02-01", "--end", "2018-03-01"],
                        datetime(2017, 2, 1, tzinfo=UTC), datetime(2018, 3, 1, tzinfo=UTC))],
)  # fmt: skip
def test_benchmark_is_buy_and_hold_of_the_same_bars(
    cli: Callable[..., Any], command: str, range_args: list[str], start: datetime | None, end: datetime | None
) -> None:
    extra = ["--grid", "fast=5,10", "--grid", "slow=30"] if command == "sweep" else []
    run = cli(command, "--symbol", "SPX", "--strategy", "sma_cross", *extra, *range_args, "--json", "-")
    assert run.code == 0, run.err
    curve = closes("SPX", start, end)
    assert set(run.json()["benchmark"]) >= {"total_return", "sharpe", "max_drawdown"}
    assert_benchmark(run.json()["benchmark"], golden(curve))


def test_portfolio_with_default_equal_weights(cli: Callable[..., Any]) -> None:
    run = cli("backtest", "--symbol", "SPX", "--symbol", "IXIC", "--strategy", "sma_cross",
              "--param", "fast=5", "--param", "slow=30", "--fee", "0.001", "--json", "-")  # fmt: skip
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["weights"] == {"SPX": 0.5, "IXIC": 0.5}
    assert doc["symbol"] == "SPX,IXIC"
    assert set(doc["symbols"]) == {"SPX", "IXIC"}
    for symbol, row in doc["symbols"].items():
        mine = [t for t in doc["trades"] if t["symbol"] == symbol]
        assert row["n_trades"] == len(mine) > 0
        assert row["pnl"] == pytest.approx(sum(t["pnl"] for t in mine), rel=1e-12)
        assert row["fees"] == pytest.approx(sum(t["fees"] for t in mine), rel=1e-12)
    # Shared cash: the per-symbol contributions add up to the portfolio's return.
    total = sum(row["contribution"] for row in doc["symbols"].values())
    assert total == pytest.approx(doc["metrics"]["total_return"], rel=1e-9)
    # The CLI ran the library's portfolio engine on the lake's bars.
    cls = load_strategy("sma_cross")
    bars = {s: Bars.from_frame(sample_frame(s, FIRST, LAST)) for s in ("SPX", "IXIC")}
    direct = run_portfolio(cls(), bars, parse_params(cls, {"fast": 5, "slow": 30}), {"SPX": 0.5, "IXIC": 0.5},
                           BacktestConfig(fee=0.001))  # fmt: skip
    assert doc["final_equity"] == pytest.approx(direct.final_equity, rel=1e-12)
    # Benchmark: half of the cash in each index from the first close, never rebalanced.
    spx, ixic = closes("SPX"), closes("IXIC")
    assert_benchmark(doc["benchmark"], golden(0.5 * spx / spx.iloc[0] + 0.5 * ixic / ixic.iloc[0]))


@pytest.mark.parametrize("weights", ["0.7,0.2", "IXIC=0.2,SPX=0.7"])
def test_portfolio_weights(cli: Callable[..., Any], weights: str) -> None:
    run = cli("backtest", "-s", "SPX", "-s", "IXIC", "--strategy", "sma_cross", "--weights", weights,
              "--start", "2017-01-01", "--json", "-")  # fmt: skip
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["weights"] == {"SPX": 0.7, "IXIC": 0.2}
    assert doc["start"] == "2017-01-01T00:00:00+00:00"
    assert min(t["entry_time"] for t in doc["trades"]) > "2017-01-01"
    spx, ixic = (
        closes("SPX", datetime(2017, 1, 1, tzinfo=UTC)),
        closes("IXIC", datetime(2017, 1, 1, tzinfo=UTC)),
    )
    assert_benchmark(doc["benchmark"], golden(0.1 + 0.7 * spx / spx.iloc[0] + 0.2 * ixic / ixic.iloc[0]))


@pytest.mark.parametrize(
    ("args", "culprit"),
    [(["--weights", "0.7"], "1 weight(s) for 2 --symbol(s)"),
     (["--weights", "0.8,0.8"], "sum to 1.6"),
     (["--weights", "SPX=0.5,BTC=0.5"], "no symbol ['BTC']"),
     (["--weights", "0.5,abc"], "'abc' is not a number"),
     (["--weights", "0.5,-0.1"], "must be > 0"),
     (["--engine", "backtrader"], "--engine vector only"),
     (["--html", "x.html"], "--html draws one series")],
)  # fmt: skip
def test_bad_portfolio_input_fails_in_one_line(
    cli: Callable[..., Any], tmp_path: Path, args: list[str], culprit: str
) -> None:
    out = tmp_path / "out.json"
    run = cli("backtest", "-s", "SPX", "-s", "IXIC", "--strategy", "sma_cross", *args, "--json", str(out))
    assert run.code == 1
    assert culprit in run.err and run.err.startswith("error: ") and run.err.count("\n") == 1
    assert not out.exists()


def test_tearsheet_draws_buy_and_hold_beside_the_equity(cli: Callable[..., Any], tmp_path: Path) -> None:
    page = tmp_path / "sheet.html"
    run = cli(
        "backtest", "-s", "SPX", "--strategy", "sma_cross", "--start", "2017-01-01", "--html", str(page)
    )
    assert run.code == 0, run.err
    text = page.read_text()
    assert '"name":"buy & hold"' in text.replace(": ", ":")
    assert "buy &amp; hold" in text  # the summary line


def test_benchmark_curve_is_initial_cash_times_close_over_first_close() -> None:
    frame = sample_frame("SPX", date(2018, 1, 1), date(2018, 3, 31))
    cls = load_strategy("sma_cross")
    params = parse_params(cls, {"fast": 3, "slow": 10})
    result = run_backtest(cls(), Bars.from_frame(frame), params, BacktestConfig(initial_cash=500.0))
    curve = benchmark_curve(result, frame)
    spx = closes("SPX", datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 4, 1, tzinfo=UTC))
    np.testing.assert_allclose(curve["equity"].to_numpy(), 500.0 * spx.to_numpy() / spx.iloc[0], rtol=1e-12)
