"""Backtrader adapter: the correctness oracle for the batched torch engine.

Our strategies are run in backtrader as a fixed decision stream: the strategy's positions at batch = 1
(exactly what the torch engine consumes), replayed by a ``bt.Strategy`` that maps each fill rule of
``torchtrader.backtest.config`` onto backtrader orders:

- rule 1: with ``cheat_on_open`` the replayer sees bar t+1's open in ``next_open`` and acts on the
  decision of bar t; market orders submitted there fill at that open.
- rules 2–3: a target change submits a close of the held units, then (if the new target is non-zero) a
  market order of target × size × equity / fill price, equity being the cash left after that close.
- rules 4–5: backtrader's percentage slippage (un-capped, see ``backtrader_feed``) and percentage
  commission on notional; the broker holds a small cash reserve so an entry fee may overdraw cash
  (``OracleBroker.set_reserve``), which stock backtrader refuses.
- rule 6: a ``Stop`` order (stop-loss) and an OCO ``Limit`` order (take-profit) submitted with the
  entry, so backtrader checks them from the entry bar on; the stop is queued first so it wins when both
  levels lie inside one bar; gaps fill at the open (backtrader's own gap logic).
- rule 7: backtrader cannot fill after its last bar, so the end-of-data close at the last close (with
  slippage and fee) is computed here from backtrader's final cash and position.
- rule 8: the equity curve is backtrader's broker value at every bar's close.

Native backtrader strategy classes run unchanged; their round trips are read from ``notify_trade``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import backtrader as bt
import numpy as np
import polars as pl
import torch

from torchtrader.backtest.backtrader_feed import OracleBroker, configure_broker, make_feed
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.metrics import buy_and_hold, compute_metrics
from torchtrader.backtest.results import BacktestResult, ExitReason, Side, Trade
from torchtrader.errors import BacktestError, StrategyError
from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams, parse_params, run_positions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Fill:
    bar: int
    units: float  # signed: > 0 bought, < 0 sold
    price: float
    fee: float
    reason: ExitReason


class _TargetReplayer(bt.Strategy):  # type: ignore[misc]
    """Replays a target-position stream under our fill rules (see the module docstring)."""

    params = (("targets", None), ("config", None))

    def __init__(self) -> None:
        self.fills: list[_Fill] = []
        self.equity: list[float] = []
        self.held: list[bool] = []
        self._held_target = 0.0
        self._exits: list[bt.Order] = []

    def next_open(self) -> None:
        bar = len(self.data) - 1
        if bar == 0:
            return
        target = float(self.p.targets[bar - 1])
        if target == self._held_target:
            return
        self._held_target = target
        config: BacktestConfig = self.p.config
        for order in self._exits:
            self.broker.cancel(order)
        self._exits = []
        slip = config.slippage_bps / 1e4
        open_ = float(self.data.open[0])
        broker: OracleBroker = self.broker
        cash = broker.true_cash()
        held = float(self.position.size)
        if held != 0.0:
            price = open_ * (1 - slip) if held > 0 else open_ * (1 + slip)
            cash += held * price - config.fee * abs(held) * price
            self.close().addinfo(reason="signal")
        if target == 0.0:
            return
        price = open_ * (1 + slip) if target > 0 else open_ * (1 - slip)
        units = target * config.size * cash / price
        if config.fees_in_sizing:
            units /= 1 + config.fee
        # The entry may overdraw cash by its fee (rule 3) plus rounding: see OracleBroker.set_reserve.
        broker.set_reserve((2 * config.fee + 1e-9) * abs(cash))
        if units > 0:
            self.buy(size=units).addinfo(reason="signal")
        else:
            self.sell(size=-units).addinfo(reason="signal")
        self._submit_exits(units, price)

    def _submit_exits(self, units: float, entry: float) -> None:
        config: BacktestConfig = self.p.config
        exit_order = self.sell if units > 0 else self.buy
        direction = 1.0 if units > 0 else -1.0
        stop = None
        if config.stop_loss is not None:
            stop = exit_order(
                size=abs(units), exectype=bt.Order.Stop, price=entry * (1 - direction * config.stop_loss)
            )
            stop.addinfo(reason="stop_loss")
            self._exits.append(stop)
        if config.take_profit is not None:
            take = exit_order(
                size=abs(units),
                exectype=bt.Order.Limit,
                price=entry * (1 + direction * config.take_profit),
                oco=stop,
            )
            take.addinfo(reason="take_profit")
            self._exits.append(take)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Margin, order.Rejected):
            raise BacktestError(f"backtrader refused an order at bar {len(self.data) - 1}: equity overdrawn")
        if order.status != order.Completed:
            return
        reason: ExitReason = order.info.get("reason", "signal")
        self.fills.append(
            _Fill(
                bar=len(self.data) - 1,
                units=float(order.executed.size),
                price=float(order.executed.price),
                fee=float(order.executed.comm),
                reason=reason,
            )
        )
        if reason != "signal":
            # A stop or take-profit closed the position: its sibling is already cancelled (OCO).
            self._exits = []

    def next(self) -> None:
        self.equity.append(self.broker.true_value())
        self.held.append(self.position.size != 0)


class _RoundTrips(bt.Analyzer):  # type: ignore[misc]
    """Round trips and the equity curve of any strategy (used for native backtrader strategies)."""

    def start(self) -> None:
        self.trades: list[tuple[int, int, float, float, float, float]] = []
        self.equity: list[float] = []
        self.held: list[bool] = []
        self._opened: dict[int, tuple[int, float]] = {}

    def notify_trade(self, trade: bt.Trade) -> None:
        bar = len(self.strategy.data) - 1
        if trade.justopened:
            self._opened[trade.ref] = (bar, float(trade.size))
        if trade.isclosed:
            entry_bar, size = self._opened.pop(trade.ref, (bar, float("nan")))
            # pnl = size × (exit − entry) for an average entry price; recover the exit price from it.
            exit_price = float(trade.price) + float(trade.pnl) / size
            self.trades.append(
                (entry_bar, bar, size, float(trade.price), exit_price, float(trade.commission))
            )

    def next(self) -> None:
        self.equity.append(self.strategy.broker.true_value())
        self.held.append(self.strategy.position.size != 0)


def run_backtrader(
    strategy: Strategy | type[bt.Strategy],
    bars: Bars,
    params: StrategyParams | Mapping[str, Any] | None,
    config: BacktestConfig,
    *,
    lake_version: int | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Backtest one parameter set in backtrader under the shared fill rules; returns our result type.

    ``strategy`` is one of our ``Strategy`` objects (its decisions are computed once at batch = 1) or a
    native ``bt.Strategy`` subclass (run unchanged, ``params`` passed as its backtrader params).
    ``trade_from``: our strategies decide on every bar but trade (flat at first) from bar ``trade_from``
    on, as in the torch engine; a native strategy only ever sees ``bars[trade_from:]``.
    """
    if not 0 <= trade_from < len(bars):
        raise BacktestError(f"trade_from {trade_from} is outside the {len(bars)} bars of {bars.symbol!r}")
    traded = bars.window(trade_from) if trade_from else bars
    if isinstance(strategy, type) and issubclass(strategy, bt.Strategy):
        return _run_native(strategy, traded, dict(params or {}), config, lake_version)
    if not isinstance(strategy, Strategy):
        raise BacktestError(f"not a strategy: {strategy!r} (expected a Strategy or a bt.Strategy subclass)")
    resolved = _resolve_params(strategy, params)
    targets = decisions(strategy, bars, resolved)[trade_from:]
    bars = traded
    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False, quicknotify=False)
    cerebro.adddata(make_feed(bars))
    configure_broker(cerebro, config)
    cerebro.addstrategy(_TargetReplayer, targets=targets, config=config)
    replayer: _TargetReplayer = cerebro.run()[0]
    trades, final_equity = _trades_from_fills(replayer, bars, config)
    return _result(
        name=strategy.name,
        params=resolved.model_dump(mode="json"),
        bars=bars,
        config=config,
        trades=trades,
        equity=replayer.equity,
        held=replayer.held,
        final_equity=final_equity,
        lake_version=lake_version,
    )


def decisions(
    strategy: Strategy, bars: Bars, params: StrategyParams
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The strategy's target positions at batch = 1 (float64, NaN read as flat), one per bar."""
    cpu_bars = bars.to(device="cpu", dtype=torch.float64)
    positions = run_positions(strategy, cpu_bars, ParamBatch.from_params([params], dtype=torch.float64))
    return positions.detach().to("cpu", dtype=torch.float64).reshape(-1).numpy()


def _resolve_params(strategy: Strategy, params: StrategyParams | Mapping[str, Any] | None) -> StrategyParams:
    if isinstance(params, StrategyParams):
        return params
    return parse_params(type(strategy), dict(params or {}))


def _time(bars: Bars, bar: int) -> datetime:
    return datetime.fromtimestamp(int(bars.ts[bar]) / 1e9, tz=UTC)


def _trades_from_fills(
    replayer: _TargetReplayer, bars: Bars, config: BacktestConfig
) -> tuple[list[Trade], float]:
    """Pair entry and exit fills into round trips; close what is still open at the last close (rule 7)."""
    fills = list(replayer.fills)
    held = float(replayer.position.size)
    cash = replayer.broker.true_cash()
    last = len(bars) - 1
    if held != 0.0:
        slip = config.slippage_bps / 1e4
        close = float(bars.close[last])
        price = close * (1 - slip) if held > 0 else close * (1 + slip)
        fee = config.fee * abs(held) * price
        fills.append(_Fill(bar=last, units=-held, price=price, fee=fee, reason="end"))
        cash += held * price - fee
    trades: list[Trade] = []
    entry: _Fill | None = None
    for fill in fills:
        if entry is None:
            entry = fill
            continue
        if not np.isclose(fill.units, -entry.units, rtol=1e-9, atol=0.0):
            raise BacktestError(f"backtrader fills do not pair into round trips: {entry} then {fill}")
        side: Side = "long" if entry.units > 0 else "short"
        units = abs(entry.units)
        gross = (fill.price - entry.price) * entry.units
        trades.append(
            Trade(
                entry_time=_time(bars, entry.bar),
                exit_time=_time(bars, fill.bar),
                side=side,
                size=units,
                entry_price=entry.price,
                exit_price=fill.price,
                pnl=gross - entry.fee - fill.fee,
                fees=entry.fee + fill.fee,
                exit_reason=fill.reason,
            )
        )
        entry = None
    return trades, cash


def _run_native(
    strategy_cls: type[bt.Strategy],
    bars: Bars,
    params: dict[str, Any],
    config: BacktestConfig,
    lake_version: int | None,
) -> BacktestResult:
    known = list(strategy_cls.params._getkeys())
    unknown = [key for key in params if key not in known]
    if unknown:
        # backtrader silently ignores unknown keyword parameters: refuse them instead.
        hint = difflib.get_close_matches(unknown[0], known, n=1)
        tail = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(known) or 'none'}"
        raise StrategyError(f"unknown parameter '{unknown[0]}' for {strategy_cls.__name__}{tail}")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars))
    configure_broker(cerebro, config)
    cerebro.addstrategy(strategy_cls, **params)
    cerebro.addanalyzer(_RoundTrips, _name="roundtrips")
    try:
        strat = cerebro.run()[0]
    except Exception as error:
        raise StrategyError(f"backtrader strategy {strategy_cls.__name__} failed: {error}") from error
    recorder: _RoundTrips = strat.analyzers.roundtrips
    trades = [
        Trade(
            entry_time=_time(bars, entry_bar),
            exit_time=_time(bars, exit_bar),
            side="long" if size > 0 else "short",
            size=abs(size),
            entry_price=entry_price,
            exit_price=exit_price,
            pnl=(exit_price - entry_price) * size - commission,
            fees=commission,
            exit_reason="signal",
        )
        for entry_bar, exit_bar, size, entry_price, exit_price, commission in recorder.trades
    ]
    equity = recorder.equity
    # Native strategies keep whatever is open at the end marked to market (backtrader's own value).
    final_equity = equity[-1] if equity else config.initial_cash
    return _result(
        name=strategy_cls.__name__,
        params=params,
        bars=bars,
        config=config,
        trades=trades,
        equity=equity,
        held=recorder.held,
        final_equity=final_equity,
        lake_version=lake_version,
    )


def _result(
    *,
    name: str,
    params: dict[str, Any],
    bars: Bars,
    config: BacktestConfig,
    trades: list[Trade],
    equity: list[float],
    held: list[bool],
    final_equity: float,
    lake_version: int | None,
) -> BacktestResult:
    if len(equity) != len(bars):
        raise BacktestError(f"backtrader produced {len(equity)} equity points for {len(bars)} bars")
    # The curve's last point is the equity after the end-of-data close (metrics.py's convention).
    points = [*equity[:-1], final_equity]
    ts = pl.Series("ts", np.asarray(bars.ts, dtype=np.int64) // 1000).cast(pl.Datetime("us"))
    curve = pl.DataFrame(
        {"ts": ts.dt.replace_time_zone("UTC"), "equity": pl.Series(points, dtype=pl.Float64)}
    )
    metrics = compute_metrics(points, [t.pnl for t in trades], timeframe=bars.timeframe, held=held)
    return BacktestResult(
        strategy=name,
        params=params,
        symbol=bars.symbol,
        timeframe=bars.timeframe,
        config=config,
        metrics=metrics,
        trades=trades,
        equity=curve,
        final_equity=final_equity,
        lake_version=lake_version,
        engine="backtrader",
        benchmark=buy_and_hold(bars.close, timeframe=bars.timeframe),
    )
