"""The backtrader adapter obeys every fill rule of torchtrader.backtest.config, on hand-worked bars.

Expected numbers are written out as the arithmetic of the rules (never read from the code under test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import backtrader as bt
import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.errors import BacktestError, StrategyError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams

OPEN = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
HIGH = [101.0, 103.0, 104.0, 104.0, 106.0, 107.0]
LOW = [99.0, 100.0, 95.0, 102.0, 103.0, 104.0]
CLOSE = [100.5, 102.0, 103.0, 103.5, 105.0, 106.0]


def day(i: int) -> datetime:
    return datetime(2020, 1, 1 + i, tzinfo=UTC)


def make_bars(
    open_: list[float] = OPEN, high: list[float] = HIGH, low: list[float] = LOW, close: list[float] = CLOSE
) -> Bars:
    def t(values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=torch.float64)

    ts = np.array([int(day(i).timestamp()) * 1_000_000_000 for i in range(len(close))], dtype=np.int64)
    return Bars(t(open_), t(high), t(low), t(close), t([1.0] * len(close)), ts, "TEST", "1d")


class Fixed(Strategy):
    """Replays a hand-written target stream (the decision at each bar's close)."""

    name: ClassVar[str] = "fixed"

    class Params(StrategyParams):
        lag: int = 0

    def __init__(self, targets: list[float]) -> None:
        self.targets = targets

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return torch.tensor([self.targets], dtype=bars.dtype)


def test_long_then_short_with_fees_slippage_and_end_of_data_close() -> None:
    fee, slip = 0.001, 0.001  # 10 bps
    config = BacktestConfig(initial_cash=10_000.0, fee=fee, slippage_bps=10)
    result = run_backtrader(Fixed([1, 1, 0, -1, -1, -1]), make_bars(), None, config)

    # bar 0 decides long -> buy at bar 1's open, slipped up; equity before is all cash
    buy = 101.0 * (1 + slip)
    units1 = 10_000.0 / buy
    cash = 10_000.0 - units1 * buy - fee * units1 * buy
    # bar 2 decides flat -> sell at bar 3's open, slipped down
    sell = 103.0 * (1 - slip)
    cash += units1 * sell - fee * units1 * sell
    # bar 3 decides short -> sell at bar 4's open; sized on the cash after the close
    short = 104.0 * (1 - slip)
    units2 = cash / short
    cash += units2 * short - fee * units2 * short
    # end of data: buy back at the last close, slipped up, with the fee
    cover = 106.0 * (1 + slip)
    final = cash - units2 * cover - fee * units2 * cover

    first, second = result.trades
    assert (first.side, first.entry_time, first.exit_time, first.exit_reason) == (
        "long",
        day(1),
        day(3),
        "signal",
    )
    assert first.size == pytest.approx(units1, rel=1e-12)
    assert (first.entry_price, first.exit_price) == (
        pytest.approx(buy, rel=1e-12),
        pytest.approx(sell, rel=1e-12),
    )
    assert first.fees == pytest.approx(fee * units1 * (buy + sell), rel=1e-12)
    assert first.pnl == pytest.approx(units1 * (sell - buy) - fee * units1 * (buy + sell), rel=1e-12)
    assert (second.side, second.entry_time, second.exit_time, second.exit_reason) == (
        "short",
        day(4),
        day(5),
        "end",
    )
    assert second.size == pytest.approx(units2, rel=1e-12)
    assert second.exit_price == pytest.approx(cover, rel=1e-12)
    assert result.final_equity == pytest.approx(final, rel=1e-12)
    assert result.engine == "backtrader"
    assert result.metrics.n_trades == 2


def test_equity_curve_marks_to_close_and_ends_with_the_final_equity() -> None:
    config = BacktestConfig(initial_cash=1_000.0)
    result = run_backtrader(Fixed([0, 1, 1, 1, 1, 1]), make_bars(), None, config)
    units = 1_000.0 / 102.0  # entry at bar 2's open
    curve = result.equity["equity"].to_list()
    expected = [1_000.0, 1_000.0, units * 103.0, units * 103.5, units * 105.0, units * 106.0]
    assert curve == pytest.approx(expected, rel=1e-12)
    assert result.equity["ts"].to_list() == [day(i) for i in range(6)]
    assert result.final_equity == curve[-1]
    assert result.metrics.exposure == pytest.approx(4 / 6)


def test_stop_loss_inside_the_bar_fills_at_the_level_with_slippage() -> None:
    config = BacktestConfig(fee=0.001, slippage_bps=10, stop_loss=0.02)
    result = run_backtrader(Fixed([1] * 6), make_bars(), None, config)
    entry = 101.0 * 1.001
    level = entry * (1 - 0.02)  # 99.08: bar 2 opens above it and trades down to 95
    (trade,) = result.trades
    assert (trade.exit_time, trade.exit_reason) == (day(2), "stop_loss")
    assert trade.exit_price == pytest.approx(level * 0.999, rel=1e-12)
    # the target stays long, but after a stop the position stays flat until the target changes
    assert result.equity["equity"][-1] == pytest.approx(result.equity["equity"][2], rel=1e-12)


def test_stop_loss_gapped_through_fills_at_the_open() -> None:
    low = [99.0, 100.0, 95.0, 102.0, 103.0, 104.0]
    open_ = [100.0, 101.0, 96.0, 103.0, 104.0, 105.0]  # bar 2 opens below the 98.98 stop
    config = BacktestConfig(stop_loss=0.02)
    (trade,) = run_backtrader(Fixed([1] * 6), make_bars(open_=open_, low=low), None, config).trades
    assert (trade.exit_time, trade.exit_reason, trade.exit_price) == (day(2), "stop_loss", 96.0)


def test_take_profit_inside_the_entry_bar_slips_like_any_fill() -> None:
    config = BacktestConfig(slippage_bps=10, take_profit=0.015, stop_loss=0.06)
    (trade,) = run_backtrader(Fixed([1] * 6), make_bars(), None, config).trades
    level = 101.0 * 1.001 * 1.015  # 102.62, inside bar 1 (high 103)
    assert (trade.entry_time, trade.exit_time, trade.exit_reason) == (day(1), day(1), "take_profit")
    assert trade.exit_price == pytest.approx(level * 0.999, rel=1e-12)


def test_stop_loss_wins_when_both_levels_lie_inside_one_bar() -> None:
    config = BacktestConfig(stop_loss=0.03, take_profit=0.01)
    # bar 2: low 95 < 101 × 0.97 and high 104 > 101 × 1.01 (bar 1's high 103 already hits the TP ...)
    high = [101.0, 101.5, 104.0, 104.0, 106.0, 107.0]  # ... so keep bar 1 below it
    (trade,) = run_backtrader(Fixed([1] * 6), make_bars(high=high), None, config).trades
    assert (trade.exit_time, trade.exit_reason) == (day(2), "stop_loss")
    assert trade.exit_price == pytest.approx(101.0 * 0.97, rel=1e-12)


def test_short_stop_loss_and_re_entry_after_a_target_change() -> None:
    config = BacktestConfig(stop_loss=0.02)
    # short from bar 1 (101): stop at 103.02, hit inside bar 2 (high 104); flat until the target
    # changes to 0 (bar 3) and back to -1 (bar 4) -> a new short at bar 5's open
    result = run_backtrader(Fixed([-1, -1, -1, 0, -1, -1]), make_bars(), None, config)
    first, second = result.trades
    assert (first.side, first.exit_time, first.exit_reason) == ("short", day(2), "stop_loss")
    assert first.exit_price == pytest.approx(101.0 * 1.02, rel=1e-12)
    assert (second.entry_time, second.entry_price, second.exit_reason) == (day(5), 105.0, "end")


def test_fractional_size_and_partial_targets() -> None:
    config = BacktestConfig(initial_cash=10_000.0, size=0.5)
    (trade,) = run_backtrader(Fixed([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), make_bars(), None, config).trades
    assert trade.size == pytest.approx(0.5 * 0.5 * 10_000.0 / 101.0, rel=1e-12)


def test_decision_at_the_last_bar_is_never_acted_on() -> None:
    result = run_backtrader(Fixed([0, 0, 0, 0, 0, 1]), make_bars(), None, BacktestConfig())
    assert result.trades == []
    assert result.final_equity == 10_000.0


class BuyAndSell(bt.Strategy):  # type: ignore[misc]
    """A native backtrader strategy: buy 10 units at bar 1's open, sell them at bar 4's open."""

    params: ClassVar[Any] = (("units", 10),)

    def next(self) -> None:
        if len(self.data) == 1:
            self.buy(size=self.p.units)
        elif len(self.data) == 4:
            self.sell(size=self.p.units)


def test_native_backtrader_strategies_run_as_is() -> None:
    config = BacktestConfig(initial_cash=1_000.0, fee=0.01)
    result = run_backtrader(BuyAndSell, make_bars(), {"units": 5}, config)
    (trade,) = result.trades
    assert (trade.side, trade.entry_time, trade.exit_time) == ("long", day(1), day(4))
    assert (trade.size, trade.entry_price, trade.exit_price) == (5.0, 101.0, pytest.approx(104.0))
    assert trade.pnl == pytest.approx(5 * (104.0 - 101.0) - 0.01 * 5 * (101.0 + 104.0))
    assert result.final_equity == pytest.approx(1_000.0 + trade.pnl)
    assert result.strategy == "BuyAndSell"


def test_too_few_bars_is_a_one_line_error() -> None:
    bars = make_bars()
    with pytest.raises(BacktestError, match="at least 2 bars"):
        run_backtrader(Fixed([1]), bars.slice(1), None, BacktestConfig())


def test_unknown_parameter_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'lagg'.*did you mean 'lag'"):
        run_backtrader(Fixed([1] * 6), make_bars(), {"lagg": 3}, BacktestConfig())


def test_a_failing_strategy_is_fenced() -> None:
    class Broken(Fixed):
        def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
            raise ZeroDivisionError("boom")

    with pytest.raises(StrategyError, match="boom"):
        run_backtrader(Broken([1] * 6), make_bars(), None, BacktestConfig())


def test_a_rerun_gives_identical_results() -> None:
    config = BacktestConfig(fee=0.002, slippage_bps=7, stop_loss=0.02, take_profit=0.015)
    first = run_backtrader(Fixed([1, -1, 0.5, 0, -0.5, 1]), make_bars(), None, config)
    second = run_backtrader(Fixed([1, -1, 0.5, 0, -0.5, 1]), make_bars(), None, config)
    assert first.trades == second.trades
    assert first.equity.equals(second.equity)
    assert first.final_equity == second.final_equity


def test_unknown_native_parameter_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'unit' for BuyAndSell; did you mean 'units'"):
        run_backtrader(BuyAndSell, make_bars(), {"unit": 5}, BacktestConfig())


def test_stop_loss_wins_even_when_the_bar_opens_beyond_the_take_profit() -> None:
    # long from bar 1 (101): TP 102.01, SL 97.97; bar 2 gaps up to 103 and then trades down to 95
    open_ = [100.0, 101.0, 103.0, 103.0, 104.0, 105.0]
    high = [101.0, 101.5, 104.0, 104.0, 106.0, 107.0]
    config = BacktestConfig(stop_loss=0.03, take_profit=0.01)
    (trade,) = run_backtrader(Fixed([1] * 6), make_bars(open_=open_, high=high), None, config).trades
    assert (trade.exit_time, trade.exit_reason) == (day(2), "stop_loss")
    assert trade.exit_price == pytest.approx(101.0 * 0.97, rel=1e-12)


def test_a_level_touched_exactly_fills() -> None:
    # long from bar 1 (101): TP at 101 × 1.02 = 103.02; bar 2's high is exactly that level
    high = [101.0, 102.0, 101.0 * 1.02, 104.0, 106.0, 107.0]
    config = BacktestConfig(take_profit=0.02)
    (trade,) = run_backtrader(Fixed([1] * 6), make_bars(high=high), None, config).trades
    assert (trade.exit_time, trade.exit_reason, trade.exit_price) == (day(2), "take_profit", 101.0 * 1.02)
