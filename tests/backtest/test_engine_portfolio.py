"""Portfolio backtests: shared cash, per-symbol weights, timestamps aligned on their intersection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.portfolio import align_bars, run_portfolio
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams

A = [(100, 101, 99, 100), (100, 106, 99, 105), (110, 112, 108, 111), (120, 121, 118, 120),
     (125, 126, 119, 122), (125, 128, 124, 127)]  # fmt: skip
B = [(50, 51, 49, 50), (50, 52, 49, 51), (52, 53, 51, 52), (52, 53, 51, 52), (52, 53, 51, 53),
     (53, 54, 52, 54)]  # fmt: skip


def day(i: int) -> datetime:
    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=i)


def make_bars(
    rows: list[tuple[float, float, float, float]], symbol: str, days: list[int] | None = None
) -> Bars:
    days = days if days is not None else list(range(len(rows)))
    cols = [torch.tensor([float(r[k]) for r in rows], dtype=torch.float64) for k in range(4)]
    ts = np.array([int(day(i).timestamp()) * 10**9 for i in days], dtype=np.int64)
    return Bars(
        *cols, volume=torch.ones(len(rows), dtype=torch.float64), ts=ts, symbol=symbol, timeframe="1d"
    )


class PerSymbol(Strategy):
    """Replays a hand-written target stream per symbol (read from ``bars.symbol``)."""

    name: ClassVar[str] = "per_symbol"

    class Params(StrategyParams):
        unused: int = 0

    def __init__(self, targets: dict[str, list[float]]) -> None:
        self.targets = targets

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return torch.tensor([self.targets[bars.symbol]], dtype=bars.dtype)


def test_shared_cash_sizes_each_entry_on_the_whole_portfolio() -> None:
    strategy = PerSymbol({"A": [1, 1, 0, 1, 1, 1], "B": [1, 1, 1, 1, 1, 1]})
    bars = {"A": make_bars(A, "A"), "B": make_bars(B, "B")}
    result = run_portfolio(strategy, bars, PerSymbol.Params(), {"A": 0.5, "B": 0.5})
    # Bar 1 open: both sized on 10 000 → A 0.5·10 000/100 = 50 units, B 0.5·10 000/50 = 100; cash 0.
    # Bar 3 open: A exits at 120 (+1 000), cash 6 000.
    # Bar 4 open: equity = 6 000 + 100·52 (B marked at its open) = 11 200 → A 0.5·11 200/125 = 44.8.
    # End: A closes at 127 (+89.6), B at 54 (+400).
    got = [(s, t.entry_time, t.exit_time, t.size, t.pnl, t.exit_reason)
           for s, t in zip(result.trade_symbols, result.trades, strict=True)]  # fmt: skip
    assert got == [
        ("A", day(1), day(3), 50, pytest.approx(1000), "signal"),
        ("B", day(1), day(5), 100, pytest.approx(400), "end"),
        ("A", day(4), day(5), pytest.approx(44.8), pytest.approx(89.6), "end"),
    ]
    assert result.final_equity == pytest.approx(11_489.6, rel=1e-12)
    # Closes: bar 1 0 + 50·105 + 100·51; bar 2 50·111 + 100·52; bar 3 6 000 + 100·52;
    # bar 4 400 + 44.8·122 + 100·53.
    expected = [10_000, 10_350, 10_750, 11_200, 400 + 44.8 * 122 + 5_300, 11_489.6]
    assert result.equity["equity"].to_list() == pytest.approx(expected, rel=1e-12)
    assert result.metrics.n_trades == 3
    assert result.metrics.exposure == pytest.approx(5 / 6)
    document = result.to_json()
    assert document["weights"] == {"A": 0.5, "B": 0.5}
    assert [t["symbol"] for t in document["trades"]] == ["A", "B", "A"]


def test_one_symbol_at_full_weight_equals_a_single_backtest() -> None:
    rng = np.random.default_rng(5)
    rows = [(o, max(o, c) + 1, min(o, c) - 1, c) for o, c in rng.uniform(90, 110, (60, 2))]
    targets = [float(v) for v in rng.choice([-1.0, 0.0, 0.5, 1.0], 60)]
    strategy, bars = PerSymbol({"X": targets}), make_bars(rows, "X", list(range(60)))
    config = BacktestConfig(fee=0.001, slippage_bps=3, stop_loss=0.05, take_profit=0.08)
    single = run_backtest(strategy, bars, PerSymbol.Params(), config)
    port = run_portfolio(strategy, {"X": bars}, PerSymbol.Params(), {"X": 1.0}, config)
    assert len(port.trades) == len(single.trades) > 5
    for a, b in zip(port.trades, single.trades, strict=True):
        assert (a.entry_time, a.exit_time, a.side, a.exit_reason) == (
            b.entry_time,
            b.exit_time,
            b.side,
            b.exit_reason,
        )
        assert a.size == pytest.approx(b.size, rel=1e-9)
        assert a.pnl == pytest.approx(b.pnl, rel=1e-9, abs=1e-9)
    assert port.final_equity == pytest.approx(single.final_equity, rel=1e-9)
    np.testing.assert_allclose(
        port.equity["equity"].to_numpy(), single.equity["equity"].to_numpy(), rtol=1e-9
    )


def test_series_are_aligned_on_shared_timestamps() -> None:
    aligned = align_bars({"A": make_bars(A, "A"), "B": make_bars(B[:5], "B", [0, 1, 2, 4, 5])})
    assert [len(b) for b in aligned.values()] == [5, 5]
    assert aligned["A"].close.tolist() == [100, 105, 111, 122, 127]  # day 3 dropped
    assert np.array_equal(aligned["A"].ts, aligned["B"].ts)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"A": 0.7, "B": 0.5}, "sum to 1.2"),
        ({"A": 1.0}, "no weight for \\['B'\\]"),
        ({"A": 0.5, "B": 0.0}, "must be > 0"),
    ],
)
def test_bad_weights_are_refused(weights: dict[str, float], message: str) -> None:
    bars = {"A": make_bars(A, "A"), "B": make_bars(B, "B")}
    with pytest.raises(BacktestError, match=message):
        run_portfolio(PerSymbol({}), bars, PerSymbol.Params(), weights)


def test_series_without_common_bars_are_refused() -> None:
    bars = {"A": make_bars(A[:2], "A", [0, 1]), "B": make_bars(B[:2], "B", [2, 3])}
    with pytest.raises(BacktestError, match="share 0 timestamps"):
        align_bars(bars)
