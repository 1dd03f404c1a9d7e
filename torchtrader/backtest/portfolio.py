"""Multi-asset portfolio backtests: one strategy on several symbols with shared cash and fixed weights.

Rules on top of the single-symbol fill rules (``torchtrader.backtest.config``):

- Alignment: the series are cut to the INTERSECTION of their timestamps, so every bar has a price for
  every symbol and no stale price is ever traded or marked (a union would need a fill rule for
  missing bars). All series must share one timeframe.
- Weights: symbol s trades target × weight_s × ``size`` of the portfolio equity. Weights are > 0 and
  sum to at most 1 (a portfolio is never levered beyond the strategy's own targets).
- Shared cash, sizing (rule 3 generalised): at a bar's open, every signal exit fills first, then every
  entry is sized on the same portfolio equity = cash + Σ held units × that bar's open (with
  ``fees_in_sizing``, divided by fill price × (1 + fee) as in rule 3).
- Order inside a bar: open fills (exits, then entries), intrabar stop-loss/take-profit exits, then the
  end-of-data close at the last bar. Timing and fill prices of each symbol's trades are exactly those
  of a single-symbol backtest of that symbol; only their sizes depend on the rest of the portfolio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any

import numpy as np
import polars as pl
import torch

from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import bar_time, ts_ns, ts_series
from torchtrader.backtest.engine_sim import END, STOP_LOSS, TAKE_PROFIT, check_positions, round_trips
from torchtrader.backtest.metrics import buy_and_hold, compute_metrics
from torchtrader.backtest.results import EXIT_REASONS, BacktestResult, Trade, json_float
from torchtrader.errors import BacktestError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams
from torchtrader.strategies.fence import run_positions

# Fill phases inside one bar, in the order they happen.
_OPEN_EXIT, _OPEN_ENTRY, _INTRABAR, _CLOSE = 0, 1, 2, 3


@dataclass(frozen=True)
class PortfolioResult(BacktestResult):
    """A BacktestResult over several symbols (``symbol`` lists them, comma-separated)."""

    weights: dict[str, float] = field(default_factory=dict)
    trade_symbols: list[str] = field(default_factory=list)  # the symbol of each trade in ``trades``

    def to_json(self, *, include_equity: bool = False) -> dict[str, Any]:
        out = super().to_json(include_equity=include_equity)
        out["weights"] = dict(self.weights)
        for trade, symbol in zip(out["trades"], self.trade_symbols, strict=True):
            trade["symbol"] = symbol
        out["symbols"] = {
            symbol: {name: json_float(value) for name, value in row.items()}
            for symbol, row in self.breakdown().items()
        }
        return out

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Per symbol: weight, n_trades, net pnl, fees, win_rate (NaN without trades) and contribution
        (net pnl / initial cash: the contributions sum to the portfolio's total return)."""
        out: dict[str, dict[str, float]] = {}
        for symbol, weight in self.weights.items():
            pnls = [t.pnl for t, s in zip(self.trades, self.trade_symbols, strict=True) if s == symbol]
            fees = [t.fees for t, s in zip(self.trades, self.trade_symbols, strict=True) if s == symbol]
            out[symbol] = {
                "weight": weight,
                "n_trades": len(pnls),
                "pnl": float(sum(pnls)),
                "fees": float(sum(fees)),
                "win_rate": sum(p > 0 for p in pnls) / len(pnls) if pnls else math.nan,
                "contribution": float(sum(pnls)) / self.config.initial_cash,
            }
        return out


def align_bars(bars_by_symbol: Mapping[str, Bars]) -> dict[str, Bars]:
    """Every series cut to the timestamps they all share (see module docstring)."""
    if not bars_by_symbol:
        raise BacktestError("a portfolio needs at least one symbol")
    timeframes = {b.timeframe for b in bars_by_symbol.values()}
    if len(timeframes) > 1:
        raise BacktestError(f"portfolio series must share one timeframe, got {sorted(timeframes)}")
    common = reduce(np.intersect1d, [b.ts for b in bars_by_symbol.values()])
    if common.shape[0] < 2:
        raise BacktestError(
            f"the series of {', '.join(bars_by_symbol)} share {common.shape[0]} timestamps; need at least 2"
        )
    aligned = {}
    for symbol, bars in bars_by_symbol.items():
        keep = torch.from_numpy(np.isin(bars.ts, common)).to(bars.device)
        aligned[symbol] = Bars(
            open=bars.open[keep],
            high=bars.high[keep],
            low=bars.low[keep],
            close=bars.close[keep],
            volume=bars.volume[keep],
            ts=bars.ts[keep.cpu().numpy()],
            symbol=symbol,
            timeframe=bars.timeframe,
        )
    return aligned


def run_portfolio(
    strategy: Strategy,
    bars_by_symbol: Mapping[str, Bars],
    params: StrategyParams,
    weights: Mapping[str, float],
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, immutable default
    *,
    lake_version: int | None = None,
    start: datetime | None = None,
) -> PortfolioResult:
    """Backtest ``strategy`` with ``params`` on every symbol at once, sharing one cash account.

    With ``start``, shared bars before it are warm-up: the strategy sees them, trading starts flat at
    the first shared bar at or after ``start``, and trades, equity and metrics cover the rest only.
    """
    _check_weights(bars_by_symbol, weights)
    aligned = align_bars({s: b.to(device="cpu", dtype=torch.float64) for s, b in bars_by_symbol.items()})
    symbols = list(aligned)
    trade_from = 0
    if start is not None:
        trade_from = int(np.searchsorted(aligned[symbols[0]].ts, ts_ns(start), side="left"))
    traded = {s: b.window(trade_from) for s, b in aligned.items()}
    first = traded[symbols[0]]
    n_bars = len(first)
    if n_bars < 2:
        raise BacktestError(
            f"the series of {', '.join(symbols)} share {n_bars} bar(s) in the traded range; need at least 2"
        )
    batch = ParamBatch.from_params([params])
    opens = np.stack([traded[s].open.numpy() for s in symbols])
    closes = np.stack([traded[s].close.numpy() for s in symbols])

    events: list[tuple[int, int, int, int]] = []  # (bar, phase, symbol index, trip index)
    trips: list[dict[str, np.ndarray]] = []
    for k, symbol in enumerate(symbols):
        decided = run_positions(strategy, aligned[symbol], batch)[:, trade_from:]
        positions = check_positions(decided, n_bars)
        found = round_trips(positions * weights[symbol], traded[symbol], config)
        cols = {name: getattr(found, name).numpy() for name in found.__dataclass_fields__}
        trips.append(cols)
        for i in range(cols["combo"].shape[0]):
            reason = int(cols["reason"][i])
            phase = (
                _CLOSE if reason == END else _INTRABAR if reason in (STOP_LOSS, TAKE_PROFIT) else _OPEN_EXIT
            )
            events.append((int(cols["entry_bar"][i]), _OPEN_ENTRY, k, i))
            events.append((int(cols["exit_bar"][i]), phase, k, i))
    events.sort()

    ledger = _Ledger(config, len(symbols), n_bars)
    for bar, phase, k, i in events:
        if phase == _OPEN_ENTRY:
            fraction, price = float(trips[k]["fraction"][i]), float(trips[k]["entry_price"][i])
            ledger.enter(bar, k, i, fraction, price, opens[:, bar])
        else:
            ledger.exit(bar, k, float(trips[k]["exit_price"][i]), at_close=phase == _CLOSE)
    equity = ledger.equity(closes)

    trades: list[tuple[int, int, Trade]] = []
    for k, cols in enumerate(trips):
        for i in range(cols["combo"].shape[0]):
            units, pnl, fees = ledger.closed[(k, i)]
            trades.append((int(cols["entry_bar"][i]), k, _trade(cols, i, units, pnl, fees, first.ts)))
    trades.sort(key=lambda item: (item[0], item[1]))
    metrics = compute_metrics(
        equity, [t.pnl for _, _, t in trades], timeframe=first.timeframe, held=ledger.held()
    )
    return PortfolioResult(
        strategy=strategy.name,
        params=params.model_dump(mode="json"),
        symbol=",".join(symbols),
        timeframe=first.timeframe,
        config=config,
        metrics=metrics,
        trades=[t for _, _, t in trades],
        equity=pl.DataFrame({"ts": ts_series(first.ts), "equity": equity}),
        final_equity=float(equity[-1]),
        lake_version=lake_version,
        weights={s: float(weights[s]) for s in symbols},
        trade_symbols=[symbols[k] for _, k, _ in trades],
        benchmark=buy_and_hold(closes, timeframe=first.timeframe, weights=[weights[s] for s in symbols]),
        warmup_bars=trade_from,
    )


class _Ledger:
    """Shared cash and per-symbol units, updated fill by fill; records per-bar deltas for the curve."""

    def __init__(self, config: BacktestConfig, n_symbols: int, n_bars: int) -> None:
        self.fee = config.fee
        self.sizing_divisor = 1 + config.fee if config.fees_in_sizing else 1.0
        self.cash = config.initial_cash
        self.initial_cash = config.initial_cash
        self.units = np.zeros(n_symbols)
        self.entry: dict[int, tuple[int, int, float, float]] = {}  # symbol -> (trip, bar, units, price)
        self.closed: dict[tuple[int, int], tuple[float, float, float]] = {}
        self.cash_delta = np.zeros(n_bars)
        self.units_delta = np.zeros((n_symbols, n_bars))
        self.held_delta = np.zeros(n_bars + 1, dtype=np.int64)

    def enter(self, bar: int, k: int, trip: int, fraction: float, price: float, opens: np.ndarray) -> None:
        equity = self.cash + float(self.units @ opens)
        units = fraction * equity / (price * self.sizing_divisor)
        cost = units * price + self.fee * abs(units) * price
        self.cash -= cost
        self.cash_delta[bar] -= cost
        self.units[k] = units
        self.units_delta[k, bar] += units
        self.entry[k] = (trip, bar, units, price)

    def exit(self, bar: int, k: int, price: float, *, at_close: bool) -> None:
        trip, entry_bar, units, entry_price = self.entry.pop(k)
        proceeds = units * price - self.fee * abs(units) * price
        self.cash += proceeds
        self.cash_delta[bar] += proceeds
        self.units[k] = 0.0
        self.units_delta[k, bar] -= units
        fees = self.fee * abs(units) * (entry_price + price)
        self.closed[(k, trip)] = (abs(units), units * (price - entry_price) - fees, fees)
        # Held at the closes of bars entry..exit−1 (an end-of-data exit also holds the last close).
        self.held_delta[entry_bar] += 1
        self.held_delta[bar + 1 if at_close else bar] -= 1

    def equity(self, closes: np.ndarray) -> np.ndarray:
        cash = self.initial_cash + np.cumsum(self.cash_delta)
        units = np.cumsum(self.units_delta, axis=1)
        curve: np.ndarray = cash + (units * closes).sum(axis=0)
        return curve

    def held(self) -> np.ndarray:
        held: np.ndarray = np.cumsum(self.held_delta)[:-1] > 0
        return held


def _trade(
    trip: dict[str, np.ndarray], i: int, units: float, pnl: float, fees: float, ts: np.ndarray
) -> Trade:
    return Trade(
        entry_time=bar_time(ts, int(trip["entry_bar"][i])),
        exit_time=bar_time(ts, int(trip["exit_bar"][i])),
        side="long" if trip["direction"][i] > 0 else "short",
        size=units,
        entry_price=float(trip["entry_price"][i]),
        exit_price=float(trip["exit_price"][i]),
        pnl=pnl,
        fees=fees,
        exit_reason=EXIT_REASONS[int(trip["reason"][i])],
    )


def _check_weights(bars_by_symbol: Mapping[str, Bars], weights: Mapping[str, float]) -> None:
    missing = sorted(set(bars_by_symbol) - set(weights))
    extra = sorted(set(weights) - set(bars_by_symbol))
    if missing or extra:
        raise BacktestError(f"weights and symbols differ: no weight for {missing}, no bars for {extra}")
    bad = {s: w for s, w in weights.items() if not w > 0}
    if bad:
        raise BacktestError(f"portfolio weights must be > 0, got {bad}")
    total = sum(weights.values())
    if total > 1 + 1e-12:
        raise BacktestError(f"portfolio weights sum to {total:g}; they must sum to at most 1")
