"""The signed spot trading subset of the loopback Binance, as the real ccxt client calls it.

``/api/v3/account``, ``/api/v3/order`` (POST create, GET query, DELETE cancel; by ``orderId`` or
``origClientOrderId``), ``/api/v3/openOrders``, ``/api/v3/allOrders``, ``/api/v3/myTrades``.

Requests are checked like Binance does: the ``X-MBX-APIKEY`` header, an HMAC-SHA256 ``signature`` over
the query (or form body) that precedes it, and ``timestamp`` within ``recvWindow`` of the server's
clock. Orders are checked against the LOT_SIZE / PRICE_FILTER / NOTIONAL filters served in
exchangeInfo and against the free balance. Market orders fill at the open of the bar forming on the
market clock (the backtest's next-open fill); limit orders fill when a later bar trades through their
price. Fees (10 bps) are charged in the quote asset, so a buy costs ``qty × price × 1.001``.

Differences from Binance, on purpose: a ``newClientOrderId`` may never be reused (Binance only refuses
it among open orders), which makes "no order twice" checkable on the venue.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from torchtrader.testing.binance_markets import FEE_RATE, MIN_NOTIONAL, MIN_QTY, STEP_SIZE, TICK_SIZE
from torchtrader.testing.binance_server import BinanceServer, Handler, Request, Response
from torchtrader.testing.faults import FaultPlan
from torchtrader.testing.spot_book import SpotBook, SpotOrder, fmt

CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


class BinanceTrading:
    """Accounts, orders and fills behind the signed endpoints of a ``BinanceServer``."""

    def __init__(
        self,
        server: BinanceServer,
        *,
        api_key: str,
        api_secret: str,
        balances: Mapping[str, float] | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.server = server
        self.api_key = api_key
        self.api_secret = api_secret
        self.faults = faults or FaultPlan()
        self.book = SpotBook(server, balances)
        self.refused_client_ids: list[str] = []  # duplicates refused, in order
        endpoints: tuple[tuple[str, str, Callable[[Request], Response | None]], ...] = (
            ("GET", "/api/v3/account", self._account),
            ("POST", "/api/v3/order", self._create),
            ("GET", "/api/v3/order", self._query),
            ("DELETE", "/api/v3/order", self._cancel),
            ("GET", "/api/v3/openOrders", self._open_orders),
            ("GET", "/api/v3/allOrders", self._all_orders),
            ("GET", "/api/v3/myTrades", self._my_trades),
        )
        for method, path, handler in endpoints:
            server.add_route(method, path, self._signed(handler))
        for key, handler in list(server.routes.items()):  # public endpoints get the generic faults too
            if key[1] in ("/api/v3/klines", "/api/v3/exchangeInfo", "/api/v3/ping", "/api/v3/time"):
                server.routes[key] = self._faulty(handler)

    # -- helpers -------------------------------------------------------------------------------------
    def _error(self, status: int, code: int, message: str) -> Response:
        return Response(status, {"code": code, "msg": message})

    def _generic_fault(self) -> Response | bool | None:
        """A response for a generic fault, None to drop the connection, False for no fault."""
        if self.faults.roll("latency"):
            time.sleep(self.faults.latency_s)
        if self.faults.roll("429"):
            return Response(
                429,
                {
                    "code": -1003,
                    "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
                },
                {"Retry-After": str(self.faults.retry_after_s)},
            )
        if self.faults.roll("5xx"):
            return self._error(
                503, -1001, "Internal error; unable to process your request. Please try again."
            )
        if self.faults.roll("timeout"):
            self.server._stopping.wait(self.faults.hang_s)
            return None
        return False

    def _faulty(self, handler: Handler) -> Handler:
        def serve(request: Request) -> Response | None:
            fault = self._generic_fault()
            return handler(request) if fault is False else fault  # type: ignore[return-value]

        return serve

    def _signed(self, handler: Callable[[Request], Response | None]) -> Handler:
        def serve(request: Request) -> Response | None:
            refused = self._authenticate(request)
            if refused is not None:
                return refused
            fault = self._generic_fault()
            if fault is not False:
                return fault  # type: ignore[return-value]
            with self.book.lock:
                self.book.match()
                return handler(request)

        return serve

    def _authenticate(self, request: Request) -> Response | None:
        header = {key.lower(): value for key, value in request.headers.items()}.get("x-mbx-apikey")
        if not header:
            return self._error(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(header, self.api_key):
            return self._error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        raw = request.body.decode() if request.method == "POST" else request.query
        payload, sep, signature = raw.rpartition("&signature=")
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            return self._error(400, -1022, "Signature for this request is not valid.")
        try:
            stamp = int(request.params["timestamp"])
            window = int(request.params.get("recvWindow", 5000))
        except (KeyError, ValueError):
            return self._error(
                400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        now = self.server.now_ms()
        if not 0 < window <= 60_000 or stamp > now + 1000 or now - stamp > window:
            return self._error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _account(self, request: Request) -> Response:
        return Response(
            200,
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0",
                    "seller": "0",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self.server.now_ms(),
                "accountType": "SPOT",
                "balances": [
                    {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
                    for asset, (free, locked) in sorted(self.book.balances.items())
                ],
                "permissions": ["SPOT"],
                "uid": 1,
            },
        )

    def _create(self, request: Request) -> Response | None:
        p = request.params
        symbol, side, kind = p.get("symbol", ""), p.get("side", ""), p.get("type", "")
        client_id = p.get("newClientOrderId", "")
        try:
            base, quote = self.book.assets(symbol)
        except KeyError:
            return self._error(400, -1121, "Invalid symbol.")
        if side not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT"):
            return self._error(400, -1116, "Invalid orderType.")
        if not CLIENT_ID.match(client_id):
            return self._error(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.")
        if any(order.client_order_id == client_id for order in self.book.orders):
            self.refused_client_ids.append(client_id)
            return self._error(400, -2010, "Duplicate order sent.")
        try:
            qty = Decimal(p["quantity"])
            price = Decimal(p["price"]) if kind == "LIMIT" else Decimal(0)
        except (KeyError, ArithmeticError):
            return self._error(
                400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            )
        step, tick = Decimal(STEP_SIZE), Decimal(TICK_SIZE)
        if qty < Decimal(MIN_QTY) or (qty / step) != (qty / step).to_integral_value(ROUND_FLOOR):
            return self._error(400, -1013, "Filter failure: LOT_SIZE")
        if kind == "LIMIT" and (
            price < tick or (price / tick) != (price / tick).to_integral_value(ROUND_FLOOR)
        ):
            return self._error(400, -1013, "Filter failure: PRICE_FILTER")
        market = self.book.price_now(symbol)
        if market is None:
            return self._error(400, -1013, "Market is closed.")
        reference = price if kind == "LIMIT" else market
        if qty * reference < Decimal(MIN_NOTIONAL):
            return self._error(400, -1013, "Filter failure: NOTIONAL")
        if self.faults.roll("reject"):
            return self._error(400, -2010, "Order rejected by the venue (injected fault).")
        need_quote = qty * reference * (1 + FEE_RATE)
        short = (side == "BUY" and self.book.balance(quote)[0] < need_quote) or (
            side == "SELL" and self.book.balance(base)[0] < qty
        )
        if short or self.faults.roll("insufficient"):
            return self._error(400, -2010, "Account has insufficient balance for requested action.")
        now = self.server.now_ms()
        order = SpotOrder(
            len(self.book.orders) + 1,
            client_id,
            symbol,
            side,
            kind,
            qty,
            price,
            now,
            self.server.market_now_ms(),
        )
        self.book.orders.append(order)
        if kind == "MARKET":
            part = qty
            if self.faults.roll("partial"):
                part = ((qty / 2) / step).to_integral_value(ROUND_FLOOR) * step
            if part > 0:
                self.book.fill(order, part, market, maker=False)
        elif (side == "BUY" and price >= market) or (side == "SELL" and price <= market):
            self.book.fill(order, qty, market, maker=False)  # marketable limit: takes at the market
        if order.status in ("NEW", "PARTIALLY_FILLED"):
            self.book.hold(order, market)
        if self.faults.roll("accept_timeout"):
            self.server._stopping.wait(self.faults.hang_s)
            return None
        reply = order.to_json() | {"transactTime": now, "fills": list(order.fills)}
        if p.get("newOrderRespType") == "ACK":
            reply = {
                k: reply[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")
            }
        return Response(200, reply)

    def _query(self, request: Request) -> Response:
        order = self.book.find(request.params)
        if order is None:
            return self._error(400, -2013, "Order does not exist.")
        return Response(200, order.to_json())

    def _cancel(self, request: Request) -> Response:
        order = self.book.find(request.params)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return self._error(400, -2011, "Unknown order sent.")
        self.book.release(order)
        order.status = "CANCELED"
        order.update_ms = self.server.now_ms()
        reply = order.to_json() | {
            "origClientOrderId": order.client_order_id,
            "transactTime": order.update_ms,
        }
        return Response(200, reply)

    def _open_orders(self, request: Request) -> Response:
        symbol = request.params.get("symbol")
        chosen = [
            o.to_json()
            for o in self.book.orders
            if o.status in ("NEW", "PARTIALLY_FILLED") and (symbol is None or o.symbol == symbol)
        ]
        return Response(200, chosen)

    def _window(self, request: Request, rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        p = request.params
        start, end = int(p.get("startTime", 0)), int(p.get("endTime", 2**62))
        limit = min(int(p.get("limit", 500)), 1000)
        chosen = [row for row in rows if start <= row[key] <= end]
        return chosen[:limit] if "startTime" in p else chosen[-limit:]

    def _all_orders(self, request: Request) -> Response:
        symbol = request.params.get("symbol")
        if symbol is None:
            return self._error(
                400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        rows = [o.to_json() for o in self.book.orders if o.symbol == symbol]
        return Response(200, self._window(request, rows, "time"))

    def _my_trades(self, request: Request) -> Response:
        p = request.params
        if "symbol" not in p:
            return self._error(
                400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        rows = [
            t
            for t in self.book.trades
            if t["symbol"] == p["symbol"]
            and ("orderId" not in p or str(t["orderId"]) == p["orderId"])
            and ("fromId" not in p or t["id"] >= int(p["fromId"]))
        ]
        return Response(200, self._window(request, rows, "time"))

    # -- inspection (tests) --------------------------------------------------------------------------
