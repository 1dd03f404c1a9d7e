"""The loopback Binance's order book for one account: balances, orders, fills, matching on bars.

Market orders fill at the open of the bar forming on the market clock (past the last bar: its close);
resting limit orders fill when a bar opened after them trades through their price; the remainder of a
partially filled market order fills at the next bar's open. Fees are charged in the quote asset.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from torchtrader.testing.binance_markets import FEE_RATE

if TYPE_CHECKING:
    from torchtrader.testing.binance_server import BinanceServer

EIGHT = Decimal("0.00000001")


def fmt(value: Decimal) -> str:
    return f"{value.quantize(EIGHT):f}"


@dataclass
class SpotOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    qty: Decimal
    price: Decimal  # limit price; 0 for market orders
    time_ms: int
    market_ms: int  # the market clock when placed: limits fill on bars opening after it
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)  # what the open remainder holds back (quote for buys, base for sells)
    update_ms: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.qty),
            "executedQty": fmt(self.executed),
            "cummulativeQuoteQty": fmt(self.quote),
            "status": self.status,
            "timeInForce": "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": self.status in ("NEW", "PARTIALLY_FILLED"),
            "workingTime": self.time_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


class SpotBook:
    """One spot account on the loopback Binance (callers hold ``lock`` around every change)."""

    def __init__(self, server: BinanceServer, balances: Mapping[str, float] | None = None) -> None:
        self.server = server
        self.balances: dict[str, list[Decimal]] = {  # asset -> [free, locked]
            asset: [Decimal(repr(float(amount))), Decimal(0)]
            for asset, amount in (balances or {"USDT": 10_000.0}).items()
        }
        self.orders: list[SpotOrder] = []
        self.trades: list[dict[str, Any]] = []
        self.lock = threading.RLock()

    def rows(self, symbol: str) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[list[Any]], int]:
        return self.server.price_series(symbol)

    def price_now(self, symbol: str) -> Decimal | None:
        """The open of the bar forming on the market clock (else the last close before it)."""
        open_ms, rows, step_ms = self.rows(symbol)
        if not rows:
            return None
        now = self.server.market_now_ms()
        index = int(np.searchsorted(open_ms, now, side="right")) - 1
        if index < 0:
            return Decimal(rows[0][1])
        closed = now >= int(open_ms[index]) + step_ms  # past the last bar: its close is the price
        return Decimal(rows[index][4 if closed else 1])

    def balance(self, asset: str) -> list[Decimal]:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])

    def assets(self, symbol: str) -> tuple[str, str]:
        for name in self.server.symbols:
            if name.replace("/", "") == symbol:
                base, quote = name.split("/")
                return base, quote
        raise KeyError(symbol)

    def find(self, params: Mapping[str, str]) -> SpotOrder | None:
        symbol = params.get("symbol")
        for order in self.orders:
            if order.symbol != symbol:
                continue
            if "orderId" in params and str(order.order_id) == params["orderId"]:
                return order
            if "origClientOrderId" in params and order.client_order_id == params["origClientOrderId"]:
                return order
        return None

    # -- matching ------------------------------------------------------------------------------------
    def fill(self, order: SpotOrder, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        base, quote = self.assets(order.symbol)
        notional = qty * price
        fee = (notional * FEE_RATE).quantize(EIGHT)
        if order.side == "BUY":
            held = min(order.locked, notional + fee)
            order.locked -= held
            self.balance(quote)[1] -= held
            self.balance(quote)[0] -= notional + fee - held
            self.balance(base)[0] += qty
        else:
            held = min(order.locked, qty)
            order.locked -= held
            self.balance(base)[1] -= held
            self.balance(base)[0] -= qty - held
            self.balance(quote)[0] += notional - fee
        order.executed += qty
        order.quote += notional
        order.update_ms = self.server.now_ms()
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        if order.status == "FILLED" and order.locked:
            asset = quote if order.side == "BUY" else base
            self.balance(asset)[0] += order.locked
            self.balance(asset)[1] -= order.locked
            order.locked = Decimal(0)
        trade = {
            "symbol": order.symbol,
            "id": len(self.trades) + 1,
            "orderId": order.order_id,
            "orderListId": -1,
            "price": fmt(price),
            "qty": fmt(qty),
            "quoteQty": fmt(notional),
            "commission": fmt(fee),
            "commissionAsset": quote,
            "time": order.update_ms,
            "isBuyer": order.side == "BUY",
            "isMaker": maker,
            "isBestMatch": True,
        }
        self.trades.append(trade)
        order.fills.append(
            {
                "price": trade["price"],
                "qty": trade["qty"],
                "commission": trade["commission"],
                "commissionAsset": quote,
                "tradeId": trade["id"],
            }
        )

    def match(self) -> None:
        """Fill resting orders on the bars the market clock has opened since they were placed."""
        now = self.server.market_now_ms()
        for order in self.orders:
            if order.status not in ("NEW", "PARTIALLY_FILLED"):
                continue
            open_ms, rows, _ = self.rows(order.symbol)
            first = int(np.searchsorted(open_ms, order.market_ms, side="right"))
            last = int(np.searchsorted(open_ms, now, side="right"))
            for row in rows[first:last]:
                bar_open, high, low = Decimal(row[1]), Decimal(row[2]), Decimal(row[3])
                rest = order.qty - order.executed
                if order.type == "MARKET":  # the remainder of a partial fill: the next bar's open
                    self.fill(order, rest, bar_open, maker=False)
                elif order.side == "BUY" and low <= order.price:
                    self.fill(order, rest, min(order.price, bar_open), maker=True)
                elif order.side == "SELL" and high >= order.price:
                    self.fill(order, rest, max(order.price, bar_open), maker=True)
                if order.status == "FILLED":
                    break
            order.market_ms = max(order.market_ms, now)

    # -- endpoints -----------------------------------------------------------------------------------

    def hold(self, order: SpotOrder, market: Decimal) -> None:
        """Set aside what the open remainder of ``order`` needs (quote for a buy, base for a sell)."""
        base, quote = self.assets(order.symbol)
        rest = order.qty - order.executed
        order.locked = rest * (order.price or market) * (1 + FEE_RATE) if order.side == "BUY" else rest
        held = self.balance(quote if order.side == "BUY" else base)
        held[0] -= order.locked
        held[1] += order.locked

    def release(self, order: SpotOrder) -> None:
        base, quote = self.assets(order.symbol)
        held = self.balance(quote if order.side == "BUY" else base)
        held[0] += order.locked
        held[1] -= order.locked
        order.locked = Decimal(0)

    def free(self, asset: str) -> float:
        with self.lock:
            return float(self.balance(asset)[0])

    def total(self, asset: str) -> float:
        with self.lock:
            free, locked = self.balance(asset)
            return float(free + locked)
