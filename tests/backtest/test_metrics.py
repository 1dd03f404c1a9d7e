"""Metrics: golden statistics computed independently with plain numpy from hand-built equity curves."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.metrics import compute_metrics, equity_metrics, trade_metrics
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams

# Rising bars (open, high, low, close) and a long-then-short round trip worked out by hand in
# test_fills: long 100 units 100 → 120 (+2000), short 100 units 120 → 125 (−500).
RISE = [(100, 101, 99, 100), (100, 106, 99, 105), (110, 112, 108, 111), (120, 121, 118, 120),
        (125, 126, 119, 122), (125, 128, 124, 127)]  # fmt: skip
HAND_EQUITY = np.array([10_000, 10_500, 11_100, 12_000, 11_800, 11_500], dtype=np.float64)


class Fixed(Strategy):
    name: ClassVar[str] = "fixed"

    class Params(StrategyParams):
        unused: int = 0

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return torch.tensor([[1, 1, -1, -1, 0, 0]], dtype=bars.dtype)


def rise_bars() -> Bars:
    cols = [torch.tensor([float(r[k]) for r in RISE], dtype=torch.float64) for k in range(4)]
    ts = np.array(
        [int(datetime(2020, 1, 1 + i, tzinfo=UTC).timestamp()) * 10**9 for i in range(6)], dtype=np.int64
    )
    return Bars(*cols, volume=torch.ones(6, dtype=torch.float64), ts=ts, symbol="TEST", timeframe="1d")


def test_golden_statistics_of_the_reversal_scenario() -> None:
    result = run_backtest(Fixed(), rise_bars(), Fixed.Params())
    assert result.equity["equity"].to_numpy() == pytest.approx(HAND_EQUITY, rel=1e-12)

    # Independent computation from the hand-built curve (daily bars: 252 per year).
    r = HAND_EQUITY[1:] / HAND_EQUITY[:-1] - 1
    ppy = 252.0
    sharpe = r.mean() / r.std(ddof=1) * np.sqrt(ppy)
    sortino = r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(ppy)
    cagr = (11_500 / 10_000) ** (ppy / 5) - 1
    max_dd = 1 - 11_500 / 12_000  # peak 12 000 at bar 3, trough 11 500 at bar 5
    m = result.metrics
    assert m.total_return == pytest.approx(0.15, rel=1e-12)
    assert m.cagr == pytest.approx(cagr, rel=1e-10)
    assert m.volatility == pytest.approx(r.std(ddof=1) * np.sqrt(ppy), rel=1e-10)
    assert m.sharpe == pytest.approx(sharpe, rel=1e-10)
    assert m.sortino == pytest.approx(sortino, rel=1e-10)
    assert m.max_drawdown == pytest.approx(max_dd, rel=1e-12)
    assert m.max_drawdown_duration == 2  # bars 4 and 5 below the bar-3 peak
    assert m.calmar == pytest.approx(cagr / max_dd, rel=1e-10)
    assert m.n_trades == 2
    assert m.win_rate == 0.5
    assert m.profit_factor == pytest.approx(2000 / 500, rel=1e-12)
    assert m.avg_trade == pytest.approx(750, rel=1e-12)
    assert m.exposure == pytest.approx(4 / 6)  # positions held at the closes of bars 1-4


def test_compute_metrics_matches_numpy_on_a_random_curve() -> None:
    rng = np.random.default_rng(7)
    equity = 1_000 * np.cumprod(1 + rng.normal(0.001, 0.02, 300))
    pnls = [5.0, -2.0, 3.0, -1.0]
    m = compute_metrics(equity, pnls, timeframe="1h", held=np.arange(300) % 2 == 0)
    r = equity[1:] / equity[:-1] - 1
    ppy = 365 * 24
    running_peak = np.maximum.accumulate(equity)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(ppy), rel=1e-10)
    assert m.max_drawdown == pytest.approx(np.max(1 - equity / running_peak), rel=1e-12)
    assert m.cagr == pytest.approx((equity[-1] / equity[0]) ** (ppy / 299) - 1, rel=1e-9)
    assert m.profit_factor == pytest.approx(8 / 3)
    assert m.win_rate == 0.5
    assert m.exposure == 0.5
    # Longest stretch below a previous peak, measured in bars from that peak.
    last_peak = np.maximum.accumulate(np.where(equity >= running_peak, np.arange(300), 0))
    assert m.max_drawdown_duration == np.max(np.arange(300) - last_peak)


def test_flat_curve_and_no_trades_give_nan_where_undefined() -> None:
    m = compute_metrics([100.0, 100.0, 100.0], [], timeframe="1d")
    assert m.total_return == 0.0
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration == 0  # a flat stretch at the peak is not a drawdown
    for name in ("sharpe", "sortino", "calmar", "win_rate", "profit_factor", "avg_trade", "exposure"):
        assert math.isnan(getattr(m, name)), name
    assert m.n_trades == 0


def test_profit_factor_is_infinite_with_gains_and_no_losses() -> None:
    m = compute_metrics([100.0, 110.0], [10.0], timeframe="1d")
    assert m.profit_factor == math.inf
    assert m.win_rate == 1.0


def test_ruin_gives_cagr_of_minus_one() -> None:
    m = compute_metrics([100.0, 50.0, -10.0], [-110.0], timeframe="1d")
    assert m.cagr == -1.0
    assert m.total_return == pytest.approx(-1.1)


def test_batched_metrics_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    curves = torch.tensor(100 * np.cumprod(1 + rng.normal(0, 0.01, (4, 50)), axis=1))
    batched = equity_metrics(curves, 252.0)
    for row in range(4):
        single = equity_metrics(curves[row : row + 1], 252.0)
        for name, values in batched.items():
            # Reductions may associate differently by batch shape: equal to the last bits only.
            assert float(values[row]) == pytest.approx(float(single[name][0]), rel=1e-13), name


def test_trade_metrics_group_by_combo() -> None:
    combo = torch.tensor([0, 0, 2])
    pnl = torch.tensor([4.0, -1.0, 3.0], dtype=torch.float64)
    out = trade_metrics(combo, pnl, 3)
    assert out["n_trades"].tolist() == [2, 0, 1]
    assert out["profit_factor"][0] == 4.0
    assert math.isnan(out["win_rate"][1])
    assert out["avg_trade"][2] == 3.0


def test_a_one_bar_curve_is_refused() -> None:
    with pytest.raises(BacktestError, match="at least 2 bars"):
        compute_metrics([100.0], [], timeframe="1d")
