"""Backtrader plumbing for the oracle adapter: the data feed and a broker that obeys our fill rules.

Kept apart from ``backtrader_engine`` so the engine module reads as the fill-rule mapping only.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from torchtrader.backtest.config import BacktestConfig
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars


def bars_to_pandas(bars: Bars) -> pd.DataFrame:
    """Flat lowercase OHLCV frame on a naive-UTC DatetimeIndex, the shape ``bt.feeds.PandasData`` wants."""
    if len(bars) < 2:
        raise BacktestError(f"backtest needs at least 2 bars, got {len(bars)} for {bars.symbol or 'series'}")
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(bars.ts, dtype=np.int64), unit="ns"), name="datetime")
    columns = {
        name: getattr(bars, name).detach().to("cpu", dtype=_float64()).numpy()
        for name in ("open", "high", "low", "close", "volume")
    }
    frame = pd.DataFrame(columns, index=index)
    frame["openinterest"] = 0.0
    return frame


def _float64() -> Any:
    import torch

    return torch.float64


def make_feed(bars: Bars) -> bt.feeds.PandasData:
    return bt.feeds.PandasData(dataname=bars_to_pandas(bars), name=bars.symbol or "data")


class OracleBroker(bt.brokers.BackBroker):  # type: ignore[misc]
    """``BackBroker`` whose limit orders slip like every other fill.

    It also holds an optional cash *reserve* (see ``set_reserve``).

    Our rule 4/6 says slippage applies to take-profit fills too, but stock backtrader fills a limit
    order touched inside the bar at exactly its limit price (no slippage). This override moves such a
    fill to ``limit × (1 ∓ slippage)``, the same treatment backtrader already gives stop orders
    touched inside the bar. Gap fills at the open already slip in stock backtrader.
    """

    reserve = 0.0

    def set_reserve(self, amount: float) -> None:
        """Hold ``amount`` of extra cash that every reading subtracts again (``true_cash``/``true_value``).

        Rule 3 lets the entry fee overdraw cash (fees are not taken out of the sizing, and even without
        fees ``cash − units × price`` can round to −1e-12), but backtrader nullifies any fill that
        leaves cash below zero, ``checksubmit`` or not. A reserve of about the fee on the position's
        notional lets such fills through; keeping it proportional to equity keeps the rounding it
        adds at ~1e-16 relative.
        """
        self.cash += amount - self.reserve
        self.reserve = amount

    def true_cash(self) -> float:
        return float(self.getcash()) - self.reserve

    def true_value(self) -> float:
        return float(self.getvalue()) - self.reserve

    def _try_exec_limit(self, order: Any, popen: float, phigh: float, plow: float, plimit: float) -> None:
        if order.isbuy():
            if plimit >= popen:
                self._execute(order, ago=0, price=self._slip_up(phigh, popen, doslip=self.p.slip_open))
            elif plimit >= plow:
                self._execute(order, ago=0, price=self._slip_up(phigh, plimit))
        elif plimit <= popen:
            self._execute(order, ago=0, price=self._slip_down(plow, popen, doslip=self.p.slip_open))
        elif plimit <= phigh:
            self._execute(order, ago=0, price=self._slip_down(plow, plimit))


def configure_broker(cerebro: bt.Cerebro, config: BacktestConfig) -> None:
    """Cash, percentage fees on notional, un-capped percentage slippage on every fill."""
    broker = OracleBroker()
    cerebro.setbroker(broker)
    broker.setcash(config.initial_cash)
    broker.set_checksubmit(False)
    broker.setcommission(
        commission=config.fee, commtype=bt.CommInfoBase.COMM_PERC, percabs=True, stocklike=True
    )
    if config.slippage_bps > 0:
        # slip_match + slip_out: the slipped price is used even when it lies outside the bar's range
        # (backtrader would otherwise cap it at the high/low, which our rules do not).
        broker.set_slippage_perc(
            config.slippage_bps / 1e4, slip_open=True, slip_limit=True, slip_match=True, slip_out=True
        )
