"""The batched engine obeys every fill rule of torchtrader.backtest.config, on hand-written bars.

Each case is a handful of bars, a target stream (the decision at each bar's close) and the exact
trades it must give. Expected numbers are the arithmetic of the rules, written out by hand.
Initial cash is 10 000 throughout; bars are daily from 2020-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.results import Trade
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams

# Rising bars for signal fills: (open, high, low, close).
RISE = [(100, 101, 99, 100), (100, 106, 99, 105), (110, 112, 108, 111), (120, 121, 118, 120),
        (125, 126, 119, 122), (125, 128, 124, 127)]  # fmt: skip
# A long entered at bar 1's open (100) with a 5 % stop (95) is stopped on bar 2 (low 94, open 101).
DIP = [(100, 100, 100, 100), (100, 102, 98, 101), (101, 103, 94, 96), (96, 97, 95, 96),
       (97, 99, 96, 98), (98, 100, 97, 99)]  # fmt: skip
# Bar 2 opens at 90, below the 95 stop: the stop fills at the open.
GAP_DOWN = [DIP[0], DIP[1], (90, 92, 88, 91), (91, 93, 90, 92), (92, 94, 91, 93), (93, 95, 92, 94)]
# Bar 2's high 111 reaches a 10 % take-profit (110) from an open of 105.
POP = [DIP[0], DIP[1], (105, 111, 104, 108), (108, 109, 107, 108), (108, 109, 107, 108), (108, 109, 107, 109)]
# Bar 2 opens at 112, above the 110 take-profit: it fills at the open.
GAP_UP = [
    DIP[0],
    DIP[1],
    (112, 113, 111, 112),
    (112, 113, 111, 112),
    (112, 113, 111, 112),
    (112, 114, 111, 113),
]
# Bar 2 reaches both 95 (low 94) and 110 (high 111).
WHIPSAW = [DIP[0], DIP[1], (100, 111, 94, 100), (100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)]
# Bar 2 opens above the 110 take-profit, then trades down through the 95 stop.
GAP_UP_WHIPSAW = [DIP[0], DIP[1], (112, 113, 94, 100), (100, 101, 99, 100), (100, 101, 99, 100), DIP[5]]
# Bar 2's high 106 reaches a short's 5 % stop (105) from an open of 103.
SQUEEZE = [
    DIP[0],
    DIP[1],
    (103, 106, 102, 104),
    (104, 105, 103, 104),
    (104, 105, 103, 104),
    (104, 105, 103, 104),
]
# The entry bar itself (bar 1, open 100) trades down to 94: stopped the same bar it was entered.
DROP = [DIP[0], (100, 100, 94, 95), (95, 96, 94, 95), (95, 96, 94, 95), (95, 96, 94, 95), (95, 96, 94, 95)]


def day(i: int) -> datetime:
    return datetime(2020, 1, 1 + i, tzinfo=UTC)


def make_bars(rows: list[tuple[float, float, float, float]]) -> Bars:
    cols = [torch.tensor([float(r[k]) for r in rows], dtype=torch.float64) for k in range(4)]
    ts = np.array([int(day(i).timestamp()) * 1_000_000_000 for i in range(len(rows))], dtype=np.int64)
    return Bars(
        *cols, volume=torch.ones(len(rows), dtype=torch.float64), ts=ts, symbol="TEST", timeframe="1d"
    )


class Fixed(Strategy):
    """Replays a hand-written target stream."""

    name: ClassVar[str] = "fixed"

    class Params(StrategyParams):
        unused: int = 0

    def __init__(self, targets: list[float]) -> None:
        self.targets = targets

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return torch.tensor([self.targets] * p.size, dtype=bars.dtype)


def T(entry: int, exit: int, side: str, size: float, entry_price: float, exit_price: float,
      pnl: float, fees: float = 0.0, reason: str = "signal") -> Trade:  # fmt: skip
    return Trade(day(entry), day(exit), side, size, entry_price, exit_price, pnl, fees, reason)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    bars: list[tuple[float, float, float, float]]
    targets: list[float]
    config: dict[str, Any]
    trades: list[Trade]
    final_equity: float
    equity: list[float] = field(default_factory=list)  # checked when given


# fmt: off
CASES = {
    "plain long: entry at next open, exit at the open after the flat decision": Case(
        RISE, [1, 1, 0, 0, 0, 0], {},
        [T(1, 3, "long", 100, 100, 120, 2000)], 12_000,
        [10_000, 10_500, 11_100, 12_000, 12_000, 12_000],
    ),
    "plain short": Case(
        RISE, [-1, -1, 0, 0, 0, 0], {},
        [T(1, 3, "short", 100, 100, 120, -2000)], 8_000,
        # cash 20 000 after the short sale, minus 100 units at each close
        [10_000, 9_500, 8_900, 8_000, 8_000, 8_000],
    ),
    "reversal: close the long and open a short sized on the new equity at the same open": Case(
        RISE, [1, 1, -1, -1, 0, 0], {},
        [T(1, 3, "long", 100, 100, 120, 2000), T(3, 5, "short", 12_000 / 120, 120, 125, -500)], 11_500,
        [10_000, 10_500, 11_100, 12_000, 11_800, 11_500],
    ),
    "fees on both fills, not subtracted from the sizing": Case(
        RISE, [1, 1, 0, 0, 0, 0], {"fee": 0.001},
        # 100 units; fees 0.001·100·100 = 10 and 0.001·100·120 = 12
        [T(1, 3, "long", 100, 100, 120, 2000 - 22, fees=22)], 11_978,
        [10_000, 10_490, 11_090, 11_978, 11_978, 11_978],
    ),
    "slippage: buys above the open, sells below": Case(
        RISE, [1, 1, 0, 0, 0, 0], {"slippage_bps": 50},
        [T(1, 3, "long", 10_000 / 100.5, 100.5, 119.4, 10_000 / 100.5 * (119.4 - 100.5))],
        10_000 + 10_000 / 100.5 * 18.9,
    ),
    "short with slippage: sells below, buys back above": Case(
        RISE, [-1, -1, 0, 0, 0, 0], {"slippage_bps": 50},
        [T(1, 3, "short", 10_000 / 99.5, 99.5, 120.6, 10_000 / 99.5 * (99.5 - 120.6))],
        10_000 - 10_000 / 99.5 * 21.1,
    ),
    "end of data: closed at the last close with fees, exit time = last bar": Case(
        RISE, [0, 0, 0, 1, 1, 1], {"fee": 0.001},
        # 80 units at 125; fees 0.001·80·125 = 10 and 0.001·80·127 = 10.16
        [T(4, 5, "long", 80, 125, 127, 160 - 20.16, fees=20.16, reason="end")], 10_139.84,
        [10_000, 10_000, 10_000, 10_000, 10_000 - 10 + 80 * (122 - 125), 10_139.84],
    ),
    "size 0.5: half the equity": Case(
        RISE, [1, 1, 0, 0, 0, 0], {"size": 0.5},
        [T(1, 3, "long", 50, 100, 120, 1000)], 11_000,
    ),
    "target 0.5: half the equity, and 0.5 -> 1 re-sizes with a close and a new open": Case(
        RISE, [0.5, 0.5, 1, 0, 0, 0], {},
        [T(1, 3, "long", 50, 100, 120, 1000), T(3, 4, "long", 11_000 / 120, 120, 125, 11_000 / 120 * 5)],
        11_000 + 11_000 / 120 * 5,
    ),
    "stop-loss touched intrabar fills at the level, then flat while the target stays": Case(
        DIP, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05},
        [T(1, 2, "long", 100, 100, 95, -500, reason="stop_loss")], 9_500,
        [10_000, 10_100, 9_500, 9_500, 9_500, 9_500],
    ),
    "after a stop, a new target change re-enters": Case(
        DIP, [1, 1, 0, 1, 1, 1], {"stop_loss": 0.05},
        [T(1, 2, "long", 100, 100, 95, -500, reason="stop_loss"),
         T(4, 5, "long", 9_500 / 97, 97, 99, 9_500 / 97 * 2, reason="end")],
        9_500 + 9_500 / 97 * 2,
    ),
    "gap through the stop fills at the open": Case(
        GAP_DOWN, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05},
        [T(1, 2, "long", 100, 100, 90, -1000, reason="stop_loss")], 9_000,
    ),
    "take-profit touched intrabar fills at the level": Case(
        POP, [1, 1, 1, 1, 1, 1], {"take_profit": 0.1},
        [T(1, 2, "long", 100, 100, 110, 1000, reason="take_profit")], 11_000,
    ),
    "gap through the take-profit fills at the (better) open": Case(
        GAP_UP, [1, 1, 1, 1, 1, 1], {"take_profit": 0.1},
        [T(1, 2, "long", 100, 100, 112, 1200, reason="take_profit")], 11_200,
    ),
    "both levels inside one bar: the stop-loss wins": Case(
        WHIPSAW, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05, "take_profit": 0.1},
        [T(1, 2, "long", 100, 100, 95, -500, reason="stop_loss")], 9_500,
    ),
    "both levels inside one bar: the stop-loss wins even when the open is beyond the take-profit": Case(
        GAP_UP_WHIPSAW, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05, "take_profit": 0.1},
        [T(1, 2, "long", 100, 100, 95, -500, reason="stop_loss")], 9_500,
    ),
    "short stop-loss above the entry, touched by the high": Case(
        SQUEEZE, [-1, -1, -1, -1, -1, -1], {"stop_loss": 0.05},
        [T(1, 2, "short", 100, 100, 105, -500, reason="stop_loss")], 9_500,
    ),
    "stop checked from the entry bar on": Case(
        DROP, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05},
        [T(1, 1, "long", 100, 100, 95, -500, reason="stop_loss")], 9_500,
        [10_000, 9_500, 9_500, 9_500, 9_500, 9_500],
    ),
    "stop with slippage and fees: level from the entry fill, slippage on the exit": Case(
        DIP, [1, 1, 1, 1, 1, 1], {"stop_loss": 0.05, "slippage_bps": 10, "fee": 0.001},
        # entry 100.1, level 100.1·0.95 = 95.095, sell fill 95.095·0.999
        [T(1, 2, "long", 10_000 / 100.1, 100.1, 95.095 * 0.999,
           10_000 / 100.1 * (95.095 * 0.999 - 100.1) - 0.001 * 10_000 / 100.1 * (100.1 + 95.095 * 0.999),
           fees=0.001 * 10_000 / 100.1 * (100.1 + 95.095 * 0.999), reason="stop_loss")],
        10_000 + 10_000 / 100.1 * (95.095 * 0.999 - 100.1)
        - 0.001 * 10_000 / 100.1 * (100.1 + 95.095 * 0.999),
    ),
    "the last bar's decision is never acted on": Case(RISE, [0, 0, 0, 0, 0, 1], {}, [], 10_000),
}
# fmt: on


def assert_trades_equal(actual: list[Trade], expected: list[Trade]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert (got.entry_time, got.exit_time, got.side, got.exit_reason) == (
            want.entry_time,
            want.exit_time,
            want.side,
            want.exit_reason,
        )
        for name in ("size", "entry_price", "exit_price", "pnl", "fees"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12, abs=1e-9), name


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fill_rules(case: Case) -> None:
    result = run_backtest(
        Fixed(case.targets), make_bars(case.bars), Fixed.Params(), BacktestConfig(**case.config)
    )
    assert_trades_equal(result.trades, case.trades)
    assert result.final_equity == pytest.approx(case.final_equity, rel=1e-12)
    curve = result.equity["equity"].to_list()
    assert curve[-1] == pytest.approx(case.final_equity, rel=1e-12)
    if case.equity:
        assert curve == pytest.approx(case.equity, rel=1e-12)


def test_equity_frame_has_one_utc_timestamp_per_bar() -> None:
    result = run_backtest(Fixed([1, 1, 0, 0, 0, 0]), make_bars(RISE), Fixed.Params())
    assert result.equity.columns == ["ts", "equity"]
    assert result.equity["ts"].to_list() == [day(i) for i in range(6)]


def test_float32_gives_the_same_trades_to_float_precision() -> None:
    case = CASES["reversal: close the long and open a short sized on the new equity at the same open"]
    result = run_backtest(
        Fixed(case.targets), make_bars(case.bars), Fixed.Params(), BacktestConfig(dtype="float32")
    )
    assert [(t.entry_time, t.exit_time, t.side) for t in result.trades] == [
        (t.entry_time, t.exit_time, t.side) for t in case.trades
    ]
    assert result.final_equity == pytest.approx(case.final_equity, rel=1e-6)
