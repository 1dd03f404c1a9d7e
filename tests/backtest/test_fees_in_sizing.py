"""``BacktestConfig(fees_in_sizing=True)``: the fee sits inside the sizing (fill rule 3), so an entry's
cost plus its fee equals target × size × equity and a full-size buy never overdraws cash.

Hand-worked cases on six bars (initial cash 10 000, fee 1 %), checked on the torch engine, the
backtrader oracle and the portfolio engine (one symbol at weight 1 must equal the single backtest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from tests.backtest.test_fills import RISE, Fixed, T, assert_trades_equal, make_bars
from tests.backtest.test_parity import ALTERNATIVES, assert_same_run
from torchtrader.backtest.backtrader_engine import run_backtrader
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.backtest.portfolio import run_portfolio
from torchtrader.backtest.results import BacktestResult, Trade
from torchtrader.strategies import load_strategy, parse_params
from torchtrader.testing.market import sample_bars

FEE = 0.01


@dataclass(frozen=True)
class Case:
    targets: list[float]
    config: dict[str, Any]
    trades: list[Trade]
    final_equity: float
    equity: list[float]


# RISE opens: 100, 100, 110, 120, 125, 125; closes: 100, 105, 111, 120, 122, 127.
U = 10_000 / (100 * 1.01)  # 99.0099… units: 100·U + 1 %·100·U = 10 000 exactly
V = 0.5 * 10_000 / (100 * 1.01)  # half size
# fmt: off
CASES = {
    "full-size long: cost plus fee is the whole equity, cash ends at exactly 0": Case(
        [1, 1, 0, 0, 0, 0], {},
        # exit 120: proceeds 120·U − 1.2·U; fees 1·U + 1.2·U
        [T(1, 3, "long", U, 100, 120, U * (20 - 2.2), fees=2.2 * U)], 118.8 * U,
        [10_000, 105 * U, 111 * U, 118.8 * U, 118.8 * U, 118.8 * U],
    ),
    "half size: half the equity goes to cost plus fee": Case(
        [1, 1, 0, 0, 0, 0], {"size": 0.5},
        [T(1, 3, "long", V, 100, 120, V * (20 - 2.2), fees=2.2 * V)], 5_000 + 118.8 * V,
        [10_000, 5_000 + 105 * V, 5_000 + 111 * V] + [5_000 + 118.8 * V] * 3,
    ),
    "short: the same formula, cash = equity + proceeds − fee": Case(
        [-1, -1, 0, 0, 0, 0], {},
        # cash after the short sale: 10 000 + 100·U − 1·U = 20 000 − 2·U
        [T(1, 3, "short", U, 100, 120, U * (-20 - 2.2), fees=2.2 * U)], 20_000 - 2 * U - 121.2 * U,
        [10_000, 20_000 - 2 * U - 105 * U, 20_000 - 2 * U - 111 * U] + [20_000 - 123.2 * U] * 3,
    ),
    "reversal: the second entry is sized on the equity left after the exit's fee": Case(
        [1, 1, -1, -1, 0, 0], {},
        [T(1, 3, "long", U, 100, 120, U * 17.8, fees=2.2 * U),
         T(3, 5, "short", 118.8 * U / 121.2, 120, 125,
           118.8 * U / 121.2 * (-5 - 2.45), fees=2.45 * 118.8 * U / 121.2)],
        118.8 * U - 7.45 * 118.8 * U / 121.2,
        # bar 3's close (120) marks the new short at its entry price: only its 1.2-per-unit fee shows
        [10_000, 105 * U, 111 * U, 118.8 * U - 1.2 * 118.8 * U / 121.2,
         118.8 * U + 118.8 * U / 121.2 * (120 - 1.2 - 122), 118.8 * U - 7.45 * 118.8 * U / 121.2],
    ),
}
# fmt: on


def check(result: BacktestResult, case: Case) -> None:
    assert_trades_equal(result.trades, case.trades)
    assert result.final_equity == pytest.approx(case.final_equity, rel=1e-12)
    assert result.equity["equity"].to_list() == pytest.approx(case.equity, rel=1e-12)


def config_of(case: Case) -> BacktestConfig:
    return BacktestConfig(fee=FEE, fees_in_sizing=True, **case.config)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_torch_engine(case: Case) -> None:
    check(run_backtest(Fixed(case.targets), make_bars(RISE), Fixed.Params(), config_of(case)), case)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_backtrader_oracle(case: Case) -> None:
    check(run_backtrader(Fixed(case.targets), make_bars(RISE), Fixed.Params(), config_of(case)), case)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_portfolio_engine(case: Case) -> None:
    bars = {"TEST": make_bars(RISE)}
    result = run_portfolio(Fixed(case.targets), bars, Fixed.Params(), {"TEST": 1.0}, config_of(case))
    check(result, case)


def test_a_full_size_buy_never_overdraws_cash() -> None:
    # The entry bar's close equals its open, so equity there is the cash left plus the units' value.
    flat = [(100, 100, 100, 100)] * 2 + RISE[2:]
    for fees_in_sizing, cash_after_entry in ((False, -100.0), (True, 0.0)):
        config = BacktestConfig(fee=FEE, fees_in_sizing=fees_in_sizing)
        result = run_backtest(Fixed([1, 1, 0, 0, 0, 0]), make_bars(flat), Fixed.Params(), config)
        (trade,) = result.trades
        assert result.equity["equity"][1] - trade.size * 100 == pytest.approx(cash_after_entry, abs=1e-9)


def test_off_by_default_and_a_no_op_without_fees() -> None:
    assert BacktestConfig().fees_in_sizing is False
    plain = run_backtest(Fixed([1, 1, 0, 0, 0, 0]), make_bars(RISE), Fixed.Params())
    inside = run_backtest(
        Fixed([1, 1, 0, 0, 0, 0]), make_bars(RISE), Fixed.Params(), BacktestConfig(fees_in_sizing=True)
    )
    assert [t.to_json() for t in plain.trades] == [t.to_json() for t in inside.trades]


@pytest.mark.parametrize(
    ("name", "params"), [("sma_cross", {"fast": 5, "slow": 50}), ("macd_trend", ALTERNATIVES["macd_trend"])]
)
def test_engines_agree_on_real_data(name: str, params: dict[str, Any]) -> None:
    bars = sample_bars("SPX", date(2015, 1, 1), date(2018, 12, 31))
    config = BacktestConfig(initial_cash=100_000.0, fee=0.002, slippage_bps=5, fees_in_sizing=True)
    cls = load_strategy(name)
    parsed = parse_params(cls, params)
    vector, oracle = run_backtest(cls(), bars, parsed, config), run_backtrader(cls(), bars, parsed, config)
    assert oracle.trades
    assert_same_run(vector, oracle)
