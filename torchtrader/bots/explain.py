"""Live-versus-backtest accounting: what the bot did against what the backtest says it should have.

``explain_bot`` replays the bars the bot traded on (the lake's series of the bot's source and
timeframe, from its first cycle's bar to its last) through the backtest engine with the bot's own
settings (strategy, parameters, capital, size, fee, slippage, fees inside the sizing), then pairs
every modelled fill with the bot's actual order for the same symbol, decision bar and side.

Per pair: ``price_gap`` = actual − modelled price; ``fee_gap`` = actual − modelled fee (quote
currency; a fee charged in the base coin is converted at the fill price); ``qty_gap``; ``delay_s`` =
actual − modelled fill time (the model fills at the next bar's open); ``cost_gap`` = what the
difference cost the bot (buys: price_gap × actual qty, sells: −price_gap × actual qty, plus the fee
gap), and ``cum_cost_gap`` its running sum. An order with no modelled twin (or a modelled fill the bot
never made: an order refused, rejected, or still waiting) is listed with the other side ``null``.

P&L of both sides is marked at the same prices (each symbol's last close in the replay), from the
fills alone: P&L = Σ sells (qty × price) − Σ buys (qty × price) − fees + holdings × mark. The gap is
actual − modelled; with equal quantities it is exactly −Σ cost_gap.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from torch import Tensor

from torchtrader.bots.store.records import FillRecord, OrderRecord
from torchtrader.bots.store.store import base_of
from torchtrader.errors import BotError
from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams

if TYPE_CHECKING:
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.results import BacktestResult
    from torchtrader.bots.config import BotConfig
    from torchtrader.bots.store import StateStore
    from torchtrader.lake import Lake


@dataclass(frozen=True)
class Execution:
    """One side's fill of one order: time, volume-weighted price, quantity, fee in the quote."""

    ts: datetime
    price: float
    qty: float
    fee: float

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts.isoformat(), "price": self.price, "qty": self.qty, "fee": self.fee}


@dataclass(frozen=True)
class Leg:
    """A fill (or an order that never filled) keyed for pairing: symbol, decision bar, side."""

    symbol: str
    side: str
    decision_bar: datetime
    execution: Execution | None
    client_order_id: str | None = None
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class FillComparison:
    symbol: str
    side: str
    decision_bar: datetime
    actual: Execution | None
    modelled: Execution | None
    client_order_id: str | None
    status: str | None
    error: str | None
    cum_cost_gap: float

    @property
    def matched(self) -> bool:
        return self.actual is not None and self.modelled is not None

    def _gap(self, field: str) -> float | None:
        if self.actual is None or self.modelled is None:
            return None
        return float(getattr(self.actual, field) - getattr(self.modelled, field))

    price_gap = property(lambda self: self._gap("price"))
    fee_gap = property(lambda self: self._gap("fee"))
    qty_gap = property(lambda self: self._gap("qty"))

    @property
    def delay_s(self) -> float | None:
        if self.actual is None or self.modelled is None:
            return None
        return (self.actual.ts - self.modelled.ts).total_seconds()

    @property
    def cost_gap(self) -> float | None:
        if self.actual is None or self.modelled is None:
            return None
        sign = 1.0 if self.side == "buy" else -1.0
        return sign * (self.actual.price - self.modelled.price) * self.actual.qty + (
            self.actual.fee - self.modelled.fee
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "decision_bar": self.decision_bar.isoformat(),
            "client_order_id": self.client_order_id,
            "status": self.status,
            "error": self.error,
            "actual": self.actual.to_json() if self.actual else None,
            "modelled": self.modelled.to_json() if self.modelled else None,
            "price_gap": self.price_gap,
            "fee_gap": self.fee_gap,
            "qty_gap": self.qty_gap,
            "delay_s": self.delay_s,
            "cost_gap": self.cost_gap,
            "cum_cost_gap": self.cum_cost_gap,
        }


@dataclass(frozen=True)
class Explanation:
    name: str
    strategy: str
    params: dict[str, Any]
    timeframe: str
    source: str
    start: datetime | None
    end: datetime | None
    lake_version: int | None
    config: dict[str, Any]
    fills: tuple[FillComparison, ...]
    marks: dict[str, float]
    pnl_actual: float
    pnl_modelled: float

    @property
    def pnl_gap(self) -> float:
        return self.pnl_actual - self.pnl_modelled

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "strategy": self.strategy,
            "params": self.params,
            "timeframe": self.timeframe,
            "source": self.source,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "lake_version": self.lake_version,
            "config": self.config,
            "fills": [f.to_json() for f in self.fills],
            "matched": sum(f.matched for f in self.fills),
            "unmatched": sum(not f.matched for f in self.fills),
            "marks": self.marks,
            "pnl": {"actual": self.pnl_actual, "modelled": self.pnl_modelled, "gap": self.pnl_gap},
        }


# ------------------------------------------------------------------ pure accounting
def compare(actual: Sequence[Leg], modelled: Sequence[Leg]) -> list[FillComparison]:
    """Pair legs of the same symbol, decision bar and side, in order; leftovers stand alone.

    The result is in time order (decision bar, then symbol), modelled order within a bar.
    """
    waiting: dict[tuple[str, datetime, str], list[Leg]] = defaultdict(list)
    for leg in actual:
        waiting[(leg.symbol, leg.decision_bar, leg.side)].append(leg)
    pairs: list[tuple[Leg | None, Leg | None]] = []
    for leg in modelled:
        queue = waiting[(leg.symbol, leg.decision_bar, leg.side)]
        twin = next((i for i, a in enumerate(queue) if a.execution is not None), None)
        pairs.append((queue.pop(twin) if twin is not None else None, leg))
    pairs += [(leg, None) for queue in waiting.values() for leg in queue]

    def when(pair: tuple[Leg | None, Leg | None]) -> tuple[datetime, str]:
        leg = pair[1] or pair[0]
        assert leg is not None
        return leg.decision_bar, leg.symbol

    out: list[FillComparison] = []
    running = 0.0
    for real, model in sorted(pairs, key=when):  # stable: modelled order kept within a bar
        any_leg = model or real
        assert any_leg is not None
        row = FillComparison(
            symbol=any_leg.symbol,
            side=any_leg.side,
            decision_bar=any_leg.decision_bar,
            actual=real.execution if real else None,
            modelled=model.execution if model else None,
            client_order_id=real.client_order_id if real else None,
            status=real.status if real else None,
            error=real.error if real else None,
            cum_cost_gap=0.0,
        )
        running += row.cost_gap or 0.0
        out.append(dataclasses.replace(row, cum_cost_gap=running))
    return out


def pnl(legs: Sequence[Leg], marks: Mapping[str, float]) -> float:
    """Cash flows of the fills plus what they leave held, marked at ``marks``."""
    cash = 0.0
    held: dict[str, float] = defaultdict(float)
    for leg in legs:
        if leg.execution is None:
            continue
        e, sign = leg.execution, 1.0 if leg.side == "buy" else -1.0
        cash -= sign * e.qty * e.price + e.fee
        held[leg.symbol] += sign * e.qty
    return cash + sum(qty * marks[symbol] for symbol, qty in held.items() if qty)


def actual_legs(orders: Sequence[OrderRecord], fills: Sequence[FillRecord]) -> list[Leg]:
    """One leg per order: its fills merged (VWAP, summed qty and fee, first fill time)."""
    by_order: dict[str, list[FillRecord]] = defaultdict(list)
    for fill in fills:
        by_order[fill.client_order_id].append(fill)
    legs = []
    for order in orders:
        own = sorted(by_order.get(order.client_order_id, []), key=lambda f: f.ts)
        execution = None
        if own:
            qty = sum(f.qty for f in own)
            notional = sum(f.qty * f.price for f in own)
            fee = sum(f.fee * (f.price if f.fee_currency == base_of(f.symbol) else 1.0) for f in own)
            execution = Execution(own[0].ts, notional / qty if qty else own[0].price, qty, fee)
        legs.append(
            Leg(
                order.symbol,
                order.side,
                order.bar_ts,
                execution,
                order.client_order_id,
                order.status,
                order.error,
            )
        )
    return legs


def modelled_legs(
    result: BacktestResult, symbols: Sequence[str], bar_times: Sequence[datetime], fee: float
) -> list[Leg]:
    """The backtest's fills (``symbols[i]`` traded ``result.trades[i]``), each keyed by its decision
    bar, the bar before the fill bar. The end-of-data close (rule 7) is not a fill: the bot still
    holds that position."""
    index = {ts: i for i, ts in enumerate(bar_times)}

    def leg(symbol: str, side: str, at: datetime, price: float, qty: float) -> Leg:
        position = index.get(at)
        if position is None or position == 0:
            raise BotError(f"backtest fill at {at.isoformat()} is not on a bar after the first one")
        return Leg(symbol, side, bar_times[position - 1], Execution(at, price, qty, fee * qty * price))

    legs = []
    for trade, symbol in zip(result.trades, symbols, strict=True):
        opening, closing = ("buy", "sell") if trade.side == "long" else ("sell", "buy")
        entry = leg(symbol, opening, trade.entry_time, trade.entry_price, trade.size)
        legs.append((trade.entry_time, 1, entry))
        if trade.exit_reason != "end":
            exit_ = leg(symbol, closing, trade.exit_time, trade.exit_price, trade.size)
            legs.append((trade.exit_time, 0, exit_))
    # a bar's close legs come before its open legs, as in the engine and the bot
    return [item[2] for item in sorted(legs, key=lambda item: (item[0], item[1]))]


# ------------------------------------------------------------------ replay
class LongOnly(Strategy):
    """The bot's view of a strategy: a cash account holds short targets flat (``bots.planning``)."""

    name = "long-only"
    Params = StrategyParams

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return self.inner.positions(bars, p).clamp(min=0.0)

    def warmup(self, params: StrategyParams) -> int:
        return self.inner.warmup(params)


def backtest_config_for(bot: BotConfig) -> BacktestConfig:
    """The BacktestConfig that models ``bot``: its capital, costs and sizing, fees inside it."""
    from torchtrader.backtest.config import BacktestConfig

    return BacktestConfig(
        initial_cash=bot.capital,
        fee=bot.fee,
        slippage_bps=bot.slippage_bps,
        size=bot.size,
        fees_in_sizing=True,
    )


def replay(
    bot: BotConfig, lake: Lake, *, start: datetime, end: datetime, version: int | None,
    strategies_dir: str | None = None,
) -> tuple[BacktestResult, list[str], list[datetime]]:  # fmt: skip
    """The backtest of ``bot`` over [start, end): the result, each trade's symbol, the bar times.

    One symbol runs the single-series engine; several run the portfolio engine with equal weights,
    sized on the shared equity as the bot sizes each symbol's share of its equity.
    """
    from torchtrader.backtest.engine import run_backtest
    from torchtrader.backtest.portfolio import run_portfolio
    from torchtrader.backtest.runner import SeriesRef, load_bars, trade_start
    from torchtrader.bots.config import resolve_strategy

    inner, params = resolve_strategy(bot, strategies_dir)
    strategy = LongOnly(inner)
    warmup = max(bot.lookback_bars, inner.warmup(params) + 2) - 1  # the bot's first window
    loaded = {
        symbol: load_bars(
            lake, SeriesRef(symbol, bot.timeframe, bot.source),
            version=version, start=start, end=end, warmup=warmup,
        )[0]
        for symbol in bot.symbols
    }  # fmt: skip
    config = backtest_config_for(bot)
    times = lake.read_bars(
        bot.symbols[0], bot.timeframe, source=bot.source, start=start, end=end, version=version
    )["ts"].to_list()
    if len(bot.symbols) == 1:
        bars = loaded[bot.symbols[0]]
        result = run_backtest(
            strategy, bars, params, config, lake_version=version, trade_from=trade_start(bars, start)
        )
        return result, [bot.symbols[0]] * len(result.trades), times
    weights = {symbol: 1.0 / len(bot.symbols) for symbol in bot.symbols}
    portfolio = run_portfolio(strategy, loaded, params, weights, config, lake_version=version, start=start)
    return portfolio, list(portfolio.trade_symbols), times


def explain_bot(
    name: str, *, store: StateStore, lake: Lake, strategies_dir: str | None = None
) -> Explanation:
    """Replay bot ``name``'s bars through the backtest engine and compare fill by fill."""
    from torchtrader.bots.config import make_bot_config
    from torchtrader.timeframes import timeframe_delta

    info = store.require_bot(name)
    bot = make_bot_config(dict(info.config), where=f"state store snapshot of {name}")
    orders = store.orders(name)
    actual = actual_legs(orders, store.fills(name))
    decisions = [p.bar_ts for p in store.equity(name) if p.bar_ts is not None]
    decisions += [o.bar_ts for o in orders]
    base: dict[str, Any] = {
        "name": name,
        "strategy": bot.strategy,
        "params": dict(bot.params),
        "timeframe": bot.timeframe,
        "source": bot.source,
        "config": backtest_config_for(bot).model_dump(mode="json"),
    }
    if not decisions:
        return Explanation(
            **base, start=None, end=None, lake_version=None, fills=(), marks={},
            pnl_actual=0.0, pnl_modelled=0.0,
        )  # fmt: skip
    start = min(decisions)
    end = max(decisions) + timeframe_delta(bot.timeframe)
    version = lake.version("bars")
    marks = {
        symbol: float(
            lake.read_bars(symbol, bot.timeframe, source=bot.source, start=start, end=end, version=version)[
                "close"
            ][-1]
        )
        for symbol in bot.symbols
    }
    modelled: list[Leg] = []
    if end - start > timeframe_delta(bot.timeframe):  # a single decision bar models no fill
        result, symbols, times = replay(
            bot, lake, start=start, end=end, version=version, strategies_dir=strategies_dir
        )
        modelled = modelled_legs(result, symbols, times, bot.fee)
    return Explanation(
        **base,
        start=start,
        end=end,
        lake_version=version,
        fills=tuple(compare(actual, modelled)),
        marks=marks,
        pnl_actual=pnl(actual, marks),
        pnl_modelled=pnl(modelled, marks),
    )
