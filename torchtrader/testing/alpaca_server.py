"""A loopback Alpaca trading API for the real ``alpaca-py`` clients (``TradingClient`` and the stock data
client's latest trade), reusing the threaded transport of ``testing.binance_server``.

Endpoints (JSON shapes as alpaca-py's models parse them): ``GET /v2/account``, ``GET /v2/clock``,
``GET /v2/assets/{symbol}``, ``POST/GET /v2/orders``, ``GET /v2/orders:by_client_order_id``,
``GET/DELETE /v2/orders/{id}``, ``GET /v2/positions``, ``GET /v2/account/activities/FILL`` and
``GET /v2/stocks/trades/latest``. Requests need the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``
headers. The market clock is a switch (``set_open``): while closed, orders are accepted and wait for
the open, like Alpaca's day orders. Market orders fill at the symbol's current price (``set_price``);
a ``client_order_id`` can be used once. Faults come from a seeded ``FaultPlan``.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from torchtrader.testing.binance_server import BinanceServer, Request, Response
from torchtrader.testing.faults import FaultPlan


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass
class AlpacaAsset:
    symbol: str
    fractionable: bool = True
    min_order_size: float = 1.0  # shares when not fractionable
    min_trade_increment: float = 0.000000001  # fractional share step
    price_increment: float = 0.01
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": self.symbol,
            "name": f"{self.symbol} Inc.",
            "status": "active",
            "tradable": True,
            "marginable": True,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": self.fractionable,
            "min_order_size": str(self.min_order_size),
            "min_trade_increment": str(self.min_trade_increment),
            "price_increment": str(self.price_increment),
            "maintenance_margin_requirement": 30,
            "attributes": [],
        }


class AlpacaServer:
    """``with AlpacaServer(prices={"AAPL": 190.0}, cash=10_000) as alpaca: ...``"""

    def __init__(
        self,
        prices: dict[str, float],
        *,
        cash: float = 100_000.0,
        api_key: str = "alpaca-key",
        api_secret: str = "alpaca-secret",
        assets: dict[str, AlpacaAsset] | None = None,
        is_open: bool = True,
        faults: FaultPlan | None = None,
    ) -> None:
        self.prices = dict(prices)
        self.cash = cash
        self.api_key, self.api_secret = api_key, api_secret
        self.assets = assets or {s: AlpacaAsset(s) for s in prices}
        self.is_open = is_open
        self.faults = faults or FaultPlan()
        self.orders: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.positions: dict[str, list[float]] = {}  # symbol -> [qty, avg price]
        self._lock = threading.RLock()
        self.server = BinanceServer(symbols=())
        self.server.routes.clear()
        self.server.handle = self._dispatch  # type: ignore[method-assign]

    # -- lifecycle and controls ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> AlpacaServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def set_price(self, symbol: str, price: float) -> None:
        with self._lock:
            self.prices[symbol] = price

    def set_open(self, is_open: bool) -> None:
        """Open or close the market; opening fills the orders that waited for it."""
        with self._lock:
            self.is_open = is_open
            if is_open:
                for order in self.orders:
                    if order["status"] == "accepted":
                        self._execute(order)

    # -- transport -----------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, code: int, message: str) -> Response:
        return Response(status, {"code": code, "message": message})

    def _dispatch(self, request: Request) -> Response | None:
        self.server.requests.append(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if (
            headers.get("apca-api-key-id") != self.api_key
            or headers.get("apca-api-secret-key") != self.api_secret
        ):
            return self._error(401, 40110000, "request is not authorized")
        if self.faults.roll("429"):
            return Response(
                429,
                {"code": 42910000, "message": "rate limit exceeded"},
                {"Retry-After": str(self.faults.retry_after_s)},
            )
        if self.faults.roll("5xx"):
            return self._error(500, 50010000, "internal server error")
        if self.faults.roll("timeout"):
            self.server._stopping.wait(self.faults.hang_s)
            return None
        path, method = request.path, request.method
        with self._lock:
            if path == "/v2/account" and method == "GET":
                return Response(200, self._account())
            if path == "/v2/clock" and method == "GET":
                return Response(200, self._clock())
            if path.startswith("/v2/assets/") and method == "GET":
                asset = self.assets.get(path.removeprefix("/v2/assets/"))
                return (
                    Response(200, asset.to_json()) if asset else self._error(404, 40410000, "asset not found")
                )
            if path == "/v2/orders" and method == "POST":
                return self._create(json.loads(request.body or b"{}"))
            if path == "/v2/orders" and method == "GET":
                return Response(200, self._list_orders(request.params))
            if path == "/v2/orders:by_client_order_id" and method == "GET":
                return self._one(lambda o: o["client_order_id"] == request.params.get("client_order_id"))
            if path.startswith("/v2/orders/"):
                order_id = path.removeprefix("/v2/orders/")
                if method == "GET":
                    return self._one(lambda o: o["id"] == order_id)
                if method == "DELETE":
                    return self._cancel(order_id)
            if path == "/v2/positions" and method == "GET":
                return Response(200, [self._position(s) for s, (q, _) in sorted(self.positions.items()) if q])
            if path == "/v2/account/activities/FILL" and method == "GET":
                after = request.params.get("after")
                rows = [a for a in self.activities if after is None or a["transaction_time"] > after]
                return Response(200, rows)
            if path == "/v2/stocks/trades/latest" and method == "GET":
                return self._latest(request.params.get("symbols", ""))
        return self._error(404, 40410000, f"endpoint not found: {method} {path}")

    # -- state ---------------------------------------------------------------------------------------
    def _reserved(self) -> float:
        return sum(
            (float(o["qty"]) - float(o["filled_qty"])) * self.prices[o["symbol"]]
            for o in self.orders
            if o["side"] == "buy" and o["status"] in ("accepted", "new", "partially_filled")
        )

    def _account(self) -> dict[str, Any]:
        equity = self.cash + sum(q * self.prices[s] for s, (q, _) in self.positions.items())
        buying = self.cash - self._reserved()
        return {
            "id": "1d5493c9-ea39-4377-aa94-340734c368ae",
            "account_number": "PA0000LOOP",
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "cash": f"{self.cash:.2f}",
            "buying_power": f"{buying:.2f}",
            "regt_buying_power": f"{buying:.2f}",
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": f"{buying:.2f}",
            "portfolio_value": f"{equity:.2f}",
            "equity": f"{equity:.2f}",
            "last_equity": f"{equity:.2f}",
            "long_market_value": f"{equity - self.cash:.2f}",
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "multiplier": "1",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "shorting_enabled": False,
            "created_at": "2024-01-02T00:00:00Z",
            "sma": "0",
            "daytrade_count": 0,
        }

    def _clock(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        later = now + timedelta(hours=6)
        return {
            "timestamp": _iso(now),
            "is_open": self.is_open,
            "next_open": _iso(now + timedelta(hours=18) if self.is_open else later),
            "next_close": _iso(later if self.is_open else now + timedelta(hours=12)),
        }

    def _create(self, body: dict[str, Any]) -> Response | None:
        symbol, side, client_id = body.get("symbol", ""), body.get("side"), body.get("client_order_id")
        asset = self.assets.get(symbol)
        if asset is None:
            return self._error(422, 40010001, f"asset {symbol!r} not found")
        if not client_id:
            client_id = str(uuid.uuid4())
        if any(o["client_order_id"] == client_id for o in self.orders):
            return self._error(422, 40010001, "client_order_id must be unique")
        qty = float(body.get("qty") or 0.0)
        if qty <= 0 or side not in ("buy", "sell") or body.get("type", "market") != "market":
            return self._error(422, 40010001, "only market orders with a positive qty are served here")
        if not asset.fractionable and qty != int(qty):
            return self._error(422, 40310000, f"asset {symbol} is not fractionable")
        if qty * self.prices[symbol] < 1.0 and qty != int(qty):
            return self._error(403, 40310000, "fractional orders must be at least $1 notional")
        if self.faults.roll("reject"):
            return self._error(403, 40310000, "order rejected (injected fault)")
        held = self.positions.get(symbol, [0.0, 0.0])[0]
        if (
            self.faults.roll("insufficient")
            or (side == "buy" and qty * self.prices[symbol] > self.cash - self._reserved())
            or (side == "sell" and qty > held + 1e-12)
        ):
            return self._error(
                403, 40310000, "insufficient buying power" if side == "buy" else "insufficient qty"
            )
        now = _iso(datetime.now(UTC))
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "client_order_id": client_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": asset.id,
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": f"{qty:g}",
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": "market",
            "type": "market",
            "side": side,
            "time_in_force": "day",
            "limit_price": None,
            "stop_price": None,
            "status": "accepted",
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }
        self.orders.append(order)
        if self.is_open:
            self._execute(order, partial=self.faults.roll("partial"))
        if self.faults.roll("accept_timeout"):
            self.server._stopping.wait(self.faults.hang_s)
            return None  # accepted (and maybe filled), but the reply never leaves
        return Response(200, order)

    def _execute(self, order: dict[str, Any], *, partial: bool = False) -> None:
        qty = float(order["qty"]) - float(order["filled_qty"])
        if partial:
            qty = qty / 2 if self.assets[order["symbol"]].fractionable else float(int(qty / 2) or qty)
        price = self.prices[order["symbol"]]
        signed = qty if order["side"] == "buy" else -qty
        held, avg = self.positions.get(order["symbol"], [0.0, 0.0])
        new = held + signed
        self.positions[order["symbol"]] = [
            new,
            (held * avg + qty * price) / new if signed > 0 and new else avg,
        ]
        self.cash -= signed * price
        filled = float(order["filled_qty"]) + qty
        old_avg = float(order["filled_avg_price"] or 0.0)
        order["filled_avg_price"] = f"{(old_avg * float(order['filled_qty']) + price * qty) / filled:.6f}"
        order["filled_qty"] = f"{filled:g}"
        order["status"] = "filled" if filled >= float(order["qty"]) - 1e-12 else "partially_filled"
        now = _iso(datetime.now(UTC))
        order["updated_at"] = now
        if order["status"] == "filled":
            order["filled_at"] = now
        self.activities.append(
            {
                "id": f"{now}::{uuid.uuid4()}",
                "activity_type": "FILL",
                "transaction_time": now,
                "type": "fill" if order["status"] == "filled" else "partial_fill",
                "price": f"{price:g}",
                "qty": f"{qty:g}",
                "side": order["side"],
                "symbol": order["symbol"],
                "leaves_qty": f"{float(order['qty']) - filled:g}",
                "order_id": order["id"],
                "cum_qty": order["filled_qty"],
                "order_status": order["status"],
            }
        )

    def fill_rest(self, client_order_id: str) -> None:
        """Fill the remainder of a partially filled order (a later execution on the venue)."""
        with self._lock:
            for order in self.orders:
                if order["client_order_id"] == client_order_id and order["status"] == "partially_filled":
                    self._execute(order)

    def _one(self, match: Any) -> Response:
        found = [o for o in self.orders if match(o)]
        return Response(200, found[0]) if found else self._error(404, 40410000, "order not found")

    def _cancel(self, order_id: str) -> Response:
        for order in self.orders:
            if order["id"] == order_id:
                if order["status"] in ("filled", "canceled"):
                    return self._error(422, 42210000, f'order is already in "{order["status"]}" state')
                order["status"], order["canceled_at"] = "canceled", _iso(datetime.now(UTC))
                return Response(204, b"")
        return self._error(404, 40410000, "order not found")

    def _list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        status = params.get("status", "open")
        open_statuses = ("accepted", "new", "partially_filled")
        rows = [
            o for o in self.orders if status == "all" or (o["status"] in open_statuses) == (status == "open")
        ]
        if "symbols" in params:
            rows = [o for o in rows if o["symbol"] in params["symbols"].split(",")]
        return rows[: int(params.get("limit", 500))]

    def _position(self, symbol: str) -> dict[str, Any]:
        qty, avg = self.positions[symbol]
        price = self.prices[symbol]
        return {
            "asset_id": self.assets[symbol].id,
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": f"{avg:.6f}",
            "qty": f"{qty:g}",
            "qty_available": f"{qty:g}",
            "side": "long",
            "market_value": f"{qty * price:.2f}",
            "cost_basis": f"{qty * avg:.2f}",
            "unrealized_pl": f"{qty * (price - avg):.2f}",
            "current_price": f"{price:g}",
            "lastday_price": f"{price:g}",
            "change_today": "0",
            "asset_marginable": True,
        }

    def _latest(self, symbols: str) -> Response:
        now = _iso(datetime.now(UTC))
        trades = {
            s: {"t": now, "x": "V", "p": self.prices[s], "s": 100, "c": ["@"], "i": 1, "z": "C"}
            for s in symbols.split(",")
            if s in self.prices
        }
        return Response(200, {"trades": trades})
