"""From the strategy's latest decision to the orders of one bar: the backtest's rules, live.

Rule 2 of ``torchtrader.backtest.config`` decides: when the target decided at the last closed bar
differs from the one before it, the held position is closed completely (leg ``close``) and, when the
new target is not flat, a new one is opened (leg ``open``). A held position that contradicts the
target (after a restart, a rejected leg, or on the bot's first bar) is corrected the same way. The
account is a cash account, so a short target is held flat.

Sizing is rule 3 with fees inside the sizing (``BacktestConfig.fees_in_sizing``): units = target ×
size × equity / (price × (1 + fee)), where equity is the bot's equity after the close leg, split
evenly across the bot's symbols. The last close stands in for the next open.

Client order ids are deterministic in (bot, symbol, bar time, leg), so a re-run of a cycle produces
the same ids and the venue (and the store) can refuse a duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from torchtrader.bots.broker import InstrumentRules, OrderSide, OrderType
from torchtrader.bots.rules import affordable_qty, round_to_step

LEGS = ("close", "open")
_EPSILON = 1e-12


def as_side(text: str) -> OrderSide:
    """A stored side back as the contract's literal."""
    if text not in ("buy", "sell"):
        raise ValueError(f"order side {text!r} is neither buy nor sell")
    return "buy" if text == "buy" else "sell"


def as_type(text: str) -> OrderType:
    return "limit" if text == "limit" else "market"


def bot_prefix(bot: str) -> str:
    """What every client order id of ``bot`` starts with (venue scans filter on it)."""
    return "tt" + hashlib.sha256(bot.encode()).hexdigest()[:6]


def client_order_id(bot: str, symbol: str, bar_ts: datetime, leg: str) -> str:
    """≤ 32 characters of [0-9a-z], accepted by Binance (36), Alpaca (128) and most venues."""
    key = f"{bot}|{symbol}|{bar_ts.isoformat()}|{leg}".encode()
    return f"{bot_prefix(bot)}{hashlib.sha256(key).hexdigest()[:20]}{leg[0]}"


@dataclass(frozen=True)
class Decision:
    """The strategy's targets at the last closed bar and the bar before it."""

    symbol: str
    bar_ts: datetime
    target: float
    previous: float
    price: float  # last close


@dataclass(frozen=True)
class Leg:
    leg: str
    side: OrderSide
    qty: float
    price: float


def plan_legs(
    decision: Decision,
    *,
    held: float,
    equity_share: float,
    free_quote: float,
    size: float,
    slippage_bps: float,
    rules: InstrumentRules,
) -> list[Leg]:
    """The legs for one symbol at one bar (empty: hold)."""
    target = max(decision.target, 0.0)
    previous = max(decision.previous, 0.0)
    holding = held > _EPSILON
    wants = target > 0
    if target == previous and holding == wants:
        return []
    if not holding and not wants:
        return []
    slip, fee, price = slippage_bps / 1e4, rules.fee_rate, decision.price
    legs: list[Leg] = []
    proceeds = 0.0
    if holding:
        sell_price = price * (1 - slip)
        legs.append(Leg("close", "sell", round_to_step(held, rules.amount_step) or held, sell_price))
        proceeds = held * sell_price * (1 - fee)
        equity_share += held * (sell_price * (1 - fee) - price)  # the close leg's own costs
    if wants:
        buy_price = price * (1 + slip)
        units = target * size * equity_share / (buy_price * (1 + fee))
        cash = free_quote + proceeds
        # float safety: the fee-inclusive cost of exactly ``cash`` worth must not round above it
        qty = min(units, affordable_qty(rules, buy_price, cash * (1 - 1e-12)))
        qty = round_to_step(qty, rules.amount_step)
        if qty > 0:
            legs.append(Leg("open", "buy", qty, buy_price))
    return legs
