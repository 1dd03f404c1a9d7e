"""Both engines, one set of fill rules: the batched torch engine matches the backtrader oracle
trade for trade on real S&P 500 data (arch.data.sp500, 2014–2018), for every built-in strategy."""

from __future__ import annotations

import math
from datetime import date
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.results import BacktestResult, Metrics
from torchtrader.strategies import Bars, builtin_strategies, load_strategy, parse_params
from torchtrader.strategies.base import ParamBatch, Strategy, StrategyParams
from torchtrader.testing.market import sample_bars

COSTS = BacktestConfig(initial_cash=100_000.0, fee=0.001, slippage_bps=5)
# Built-ins that need more than bars (a registered MLflow model: ml_signal, tested with tests/models).
MODEL_DRIVEN = frozenset({"ml_signal"})
BUILTINS = sorted(set(builtin_strategies()) - MODEL_DRIVEN)

# One alternative parameter set per built-in (shorts switched on where the strategy has them).
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "sma_cross": {"fast": 5, "slow": 50},
    "ema_cross": {"fast": 8, "slow": 40},
    "rsi_reversion": {"period": 7, "lower": 25.0, "upper": 75.0},
    "bollinger_breakout": {"period": 15, "width": 1.5, "short": True},
    "macd_trend": {"fast": 8, "slow": 21, "signal": 5, "short": True},
    "donchian_breakout": {"entry": 30, "exit": 15},
    "weekly_trend": {"period": 10, "weeks": 6},
}


@pytest.fixture(scope="module")
def sp500() -> Bars:
    return sample_bars("SPX", date(2014, 1, 1), date(2018, 12, 31))


def assert_same_run(vector: BacktestResult, oracle: BacktestResult) -> None:
    assert len(vector.trades) == len(oracle.trades), (len(vector.trades), len(oracle.trades))
    for i, (v, o) in enumerate(zip(vector.trades, oracle.trades, strict=True)):
        where = f"trade {i}: vector {v} vs backtrader {o}"
        assert (v.entry_time, v.exit_time, v.side, v.exit_reason) == (
            o.entry_time,
            o.exit_time,
            o.side,
            o.exit_reason,
        ), where
        assert v.size == pytest.approx(o.size, rel=1e-9, abs=0), where
        assert v.entry_price == pytest.approx(o.entry_price, rel=1e-9, abs=0), where
        assert v.exit_price == pytest.approx(o.exit_price, rel=1e-9, abs=0), where
        notional = o.size * o.entry_price  # pnl can be ~0: compare it on the trade's scale
        assert abs(v.pnl - o.pnl) <= 1e-9 * notional, where
        assert abs(v.fees - o.fees) <= 1e-9 * notional, where
    assert vector.final_equity == pytest.approx(oracle.final_equity, rel=1e-6)
    assert vector.equity["ts"].to_list() == oracle.equity["ts"].to_list()
    assert vector.equity["equity"].to_list() == pytest.approx(oracle.equity["equity"].to_list(), rel=1e-9)
    for name in Metrics.names():
        ours, theirs = getattr(vector.metrics, name), getattr(oracle.metrics, name)
        if isinstance(theirs, float) and math.isnan(theirs):
            assert math.isnan(ours), name
        else:
            assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-12), name


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("variant", ["default", "alternative"])
def test_engines_agree_on_every_builtin(name: str, variant: str, sp500: Bars) -> None:
    cls = load_strategy(name)
    params = parse_params(cls, {} if variant == "default" else ALTERNATIVES[name])
    vector = run_backtest(cls(), sp500, params, COSTS)
    oracle = run_backtrader(cls(), sp500, params, COSTS)
    assert oracle.trades, "a parity run without trades proves nothing"
    assert_same_run(vector, oracle)


def test_every_builtin_has_an_alternative_parameter_set() -> None:
    assert set(ALTERNATIVES) == set(BUILTINS)


@pytest.mark.parametrize(
    ("name", "overrides", "stops"),
    [
        ("sma_cross", {"fast": 5, "slow": 20}, {"stop_loss": 0.02, "take_profit": 0.03}),
        ("macd_trend", {"short": True}, {"stop_loss": 0.015, "take_profit": 0.02}),
        ("bollinger_breakout", {"short": True}, {"stop_loss": 0.01}),
        ("donchian_breakout", {}, {"take_profit": 0.025}),
    ],
)
def test_engines_agree_with_stops_and_take_profits(
    name: str, overrides: dict[str, Any], stops: dict[str, float], sp500: Bars
) -> None:
    cls = load_strategy(name)
    params = parse_params(cls, overrides)
    config = COSTS.model_copy(update=stops)
    vector = run_backtest(cls(), sp500, params, config)
    oracle = run_backtrader(cls(), sp500, params, config)
    reasons = {t.exit_reason for t in oracle.trades}
    assert reasons & {"stop_loss", "take_profit"}, "the scenario must actually exercise the exits"
    assert_same_run(vector, oracle)


class RandomTargets(Strategy):
    """Seeded random targets in {-1, -0.5, 0, 0.5, 1}, held ``hold`` bars: reversals, resizes, flats."""

    name: ClassVar[str] = "random_targets"

    class Params(StrategyParams):
        seed: int = 0
        hold: int = 5

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        rng = np.random.default_rng(int(p.seed[0]))
        hold = int(p.hold[0])
        levels = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=len(bars) // hold + 1)
        return torch.tensor(np.repeat(levels, hold)[: len(bars)], dtype=bars.dtype).reshape(1, -1)


@pytest.mark.parametrize("seed", range(12))
def test_engines_agree_on_random_target_streams(seed: int, sp500: Bars) -> None:
    rng = np.random.default_rng(1000 + seed)
    config = BacktestConfig(
        initial_cash=50_000.0,
        fee=float(rng.choice([0.0, 0.001, 0.003])),
        slippage_bps=float(rng.choice([0.0, 3.0, 20.0, 50.0])),
        size=float(rng.choice([1.0, 0.7])),
        # 0.001 with 20+ bps of slippage puts the stop beyond the entry bar's open: an immediate gap fill
        stop_loss=float(rng.choice([0.001, 0.01, 0.03])) if rng.random() < 0.6 else None,
        take_profit=float(rng.choice([0.01, 0.04])) if rng.random() < 0.6 else None,
    )
    params = RandomTargets.Params(seed=seed, hold=int(rng.integers(1, 8)))
    vector = run_backtest(RandomTargets(), sp500, params, config)
    oracle = run_backtrader(RandomTargets(), sp500, params, config)
    assert len(oracle.trades) > 50
    assert_same_run(vector, oracle)


def hand_bars(open_: list[float], high: list[float], low: list[float], close: list[float]) -> Bars:
    def t(values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=torch.float64)

    ts = (np.arange(len(close), dtype=np.int64) + 18_262) * 86_400 * 1_000_000_000
    return Bars(t(open_), t(high), t(low), t(close), t([1.0] * len(close)), ts, "HAND", "1d")


class Replay(Strategy):
    name: ClassVar[str] = "replay"

    class Params(StrategyParams):
        pass

    def __init__(self, targets: list[float]) -> None:
        self.targets = targets

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return torch.tensor([self.targets], dtype=bars.dtype)


OPEN = [100.0, 101.0, 103.0, 103.0, 104.0, 105.0]
HIGH = [101.0, 101.5, 104.0, 104.0, 106.0, 107.0]
LOW = [99.0, 100.0, 95.0, 102.0, 103.0, 104.0]
CLOSE = [100.5, 102.0, 103.0, 103.5, 105.0, 106.0]
HAND = hand_bars(OPEN, HIGH, LOW, CLOSE)
TOUCH = hand_bars(OPEN, [101.0, 102.0, 101.0 * 1.02, 104.0, 106.0, 107.0], LOW, CLOSE)


@pytest.mark.parametrize(
    ("bars", "targets", "config"),
    [
        # gap above the take-profit, then down through the stop: the stop wins
        (HAND, [1] * 6, BacktestConfig(stop_loss=0.03, take_profit=0.01, slippage_bps=5)),
        # a take-profit touched exactly at the high
        (TOUCH, [1] * 6, BacktestConfig(take_profit=0.02)),
        # short stopped out inside the bar, re-entered after the target changes, closed at the end
        (HAND, [-1, -1, -1, 0, -1, -1], BacktestConfig(stop_loss=0.02, fee=0.002)),
        # slippage wider than the stop: the stop sits beyond the entry bar's open and fills at once
        (HAND, [0.5, 0.5, -1, -1, 1, 1], BacktestConfig(stop_loss=0.001, slippage_bps=30)),
        # every-bar reversals with fees, partial size
        (HAND, [1, -1, 0.5, -0.5, 1, 0], BacktestConfig(fee=0.003, slippage_bps=10, size=0.6)),
    ],
)  # fmt: skip
def test_engines_agree_on_hand_written_edge_cases(
    bars: Bars, targets: list[float], config: BacktestConfig
) -> None:
    params = Replay.Params()
    oracle = run_backtrader(Replay(targets), bars, params, config)
    assert oracle.trades
    assert_same_run(run_backtest(Replay(targets), bars, params, config), oracle)
