"""A loopback Binance REST server for tests and offline demos: the real ccxt client talks to it.

It speaks the public spot subset ccxt needs for ``fetch_ohlcv`` (``/api/v3/ping``, ``/api/v3/time``,
``/api/v3/exchangeInfo``, ``/api/v3/klines``) and serves bars from a canonical bars frame. Faults can be
injected for the next N requests (HTTP 429, HTTP 500, a hung connection, a garbage body) to exercise
retry and error mapping. Endpoints live in a route table (``add_route``), so signed trading endpoints
can be added alongside without touching the transport.

    with BinanceServer(bars) as server:
        source = CcxtSource(api_url=server.url)
        server.inject("429", times=2)
        source.fetch("BTC/USDT", "1m", start, end)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

import numpy as np
import polars as pl

from torchtrader.testing.binance_markets import market_id, spot_symbol
from torchtrader.timeframes import timeframe_seconds

__all__ = ["BinanceServer", "Request", "Response", "binance_error", "market_id"]

FaultKind = Literal["429", "500", "timeout", "garbage"]
FAULT_KINDS: tuple[str, ...] = ("429", "500", "timeout", "garbage")
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = 1000


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (query and form parameters flattened to their last value)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    query: str = ""  # the raw query string: signed requests are verified over it
    received_at: float = 0.0  # time.monotonic() on arrival


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # JSON-serialisable, or bytes sent verbatim
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response | None]  # None: drop the connection unanswered


def binance_error(status: int, code: int, message: str) -> Response:
    """An error in Binance's documented shape ``{"code": -1121, "msg": "Invalid symbol."}``."""
    return Response(status, {"code": code, "msg": message})


@dataclass
class _Series:
    open_ms: np.ndarray[Any, np.dtype[np.int64]]
    rows: list[list[Any]]
    step_ms: int = 60_000


class BinanceServer:
    """Threaded HTTP server on 127.0.0.1 (free port) answering a Binance spot REST subset."""

    def __init__(
        self,
        bars: pl.DataFrame | None = None,
        *,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        hang_seconds: float = 2.0,
        port: int = 0,
    ) -> None:
        self.hang_seconds = hang_seconds
        self.port = port
        self.requests: list[Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self._faults: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._series: dict[tuple[str, str], _Series] = {}
        names = list(symbols)
        if bars is not None:
            self.load_bars(bars)
            names += [str(s) for s in bars["symbol"].unique().sort()]
        self.symbols = list(dict.fromkeys(names))
        # the market's clock (ms): when set, klines show only the bars it has closed (``testing.exchange``)
        self.market_clock: Callable[[], int] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_route("GET", "/api/v3/ping", lambda request: Response(200, {}))
        self.add_route("GET", "/api/v3/time", lambda request: Response(200, {"serverTime": self.now_ms()}))
        self.add_route("GET", "/api/v3/exchangeInfo", self._exchange_info)
        self.add_route("GET", "/api/v3/klines", self._klines)

    # -- configuration -------------------------------------------------------------------------------
    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler`` (replaces an existing route)."""
        self.routes[(method.upper(), path)] = handler

    def load_bars(self, bars: pl.DataFrame) -> None:
        """Serve a canonical bars frame (columns symbol, timeframe, ts, open..volume) from klines."""
        for (symbol, timeframe), group in bars.sort("ts").group_by(
            ["symbol", "timeframe"], maintain_order=True
        ):
            seconds = timeframe_seconds(str(timeframe))
            open_ms = group["ts"].dt.epoch("ms").to_numpy().astype(np.int64)
            rows = [
                [
                    t,
                    f"{o:.8f}",
                    f"{h:.8f}",
                    f"{lo:.8f}",
                    f"{c:.8f}",
                    f"{v:.8f}",
                    t + seconds * 1000 - 1,
                    f"{v * c:.8f}",
                    100,
                    f"{v / 2:.8f}",
                    f"{v * c / 2:.8f}",
                    "0",
                ]
                for t, o, h, lo, c, v in zip(
                    open_ms.tolist(),
                    group["open"],
                    group["high"],
                    group["low"],
                    group["close"],
                    group["volume"],
                    strict=True,
                )
            ]
            self._series[(market_id(str(symbol)), str(timeframe))] = _Series(open_ms, rows, seconds * 1000)

    def price_series(
        self, symbol_id: str
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[list[Any]], int]:
        """(open times, kline rows, bar length ms) of the finest timeframe served for ``symbol_id``."""
        found = [series for (sid, _), series in self._series.items() if sid == symbol_id]
        if not found:
            return np.zeros(0, dtype=np.int64), [], 60_000
        finest = min(found, key=lambda series: series.step_ms)
        return finest.open_ms, finest.rows, finest.step_ms

    def market_now_ms(self) -> int:
        return self.market_clock() if self.market_clock is not None else self.now_ms()

    def inject(self, kind: str, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path`` only, if given) with a fault.

        ``429``: rate limited (Binance code -1003, Retry-After); ``500``: internal error; ``timeout``: hold
        the connection ``hang_seconds`` then drop it unanswered; ``garbage``: 200 with a non-JSON body.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend([(kind, path)] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [request.path for request in self.requests]

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    # -- lifecycle -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("BinanceServer is not started: use it as a context manager or call start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._stopping.clear()
        # a short poll interval keeps stop() fast (serve_forever checks for shutdown once per poll)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="binance-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers holding a "timeout" connection
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ------------------------------------------------------------------------------------
    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            for index, (kind, only) in enumerate(self._faults):
                if only is None or only == path:
                    del self._faults[index]
                    return kind
        return None

    def handle(self, request: Request) -> Response | None:
        """The response to send, or None to drop the connection unanswered."""
        self.requests.append(request)
        fault = self._take_fault(request.path)
        if fault == "timeout":
            self._stopping.wait(self.hang_seconds)
            return None
        if fault == "429":
            response = binance_error(
                429, -1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE."
            )
            return Response(429, response.body, {"Retry-After": "1"})
        if fault == "500":
            return binance_error(500, -1000, "An unknown error occurred while processing the request.")
        if fault == "garbage":
            return Response(200, b"<html><body>\x00\xffnot json", {"Content-Type": "application/json"})
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return binance_error(404, -1100, f"Unknown endpoint {request.method} {request.path}")
        return handler(request)

    # -- endpoints -----------------------------------------------------------------------------------
    def _exchange_info(self, request: Request) -> Response:
        return Response(
            200,
            {
                "timezone": "UTC",
                "serverTime": self.now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [spot_symbol(symbol) for symbol in self.symbols],
            },
        )

    def _klines(self, request: Request) -> Response:
        """Binance semantics: openTime in [startTime, endTime]; first ``limit`` from startTime, else last."""
        params = request.params
        symbol, interval = params.get("symbol"), params.get("interval")
        known = {market_id(name) for name in self.symbols}
        if symbol not in known:
            return binance_error(400, -1121, "Invalid symbol.")
        try:
            timeframe_seconds(interval or "")
            limit = int(params.get("limit", KLINES_DEFAULT_LIMIT))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except (ValueError, Exception):
            return binance_error(400, -1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= KLINES_MAX_LIMIT:
            return binance_error(400, -1130, "Invalid data sent for a parameter.")
        series = self._series.get((symbol, interval or ""))
        if series is None:
            return Response(200, [])
        lo = 0 if start is None else int(np.searchsorted(series.open_ms, start, side="left"))
        hi = len(series.rows) if end is None else int(np.searchsorted(series.open_ms, end, side="right"))
        if self.market_clock is not None:  # bars still forming (or not yet due) are not served
            closed = int(np.searchsorted(series.open_ms, self.market_clock() - series.step_ms, side="right"))
            hi = min(hi, closed)
        chosen = (
            series.rows[lo : min(hi, lo + limit)]
            if start is not None
            else series.rows[max(lo, hi - limit) : hi]
        )
        return Response(200, chosen)


def _make_handler(server: BinanceServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes on a kept-alive connection: with Nagle's algorithm the
        # body waits for the client's delayed ACK of the headers, ~40 ms on every response.
        disable_nagle_algorithm = True

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            if body and "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                params.update({key: values[-1] for key, values in parse_qs(body.decode()).items()})
            request = Request(
                method, parts.path, params, dict(self.headers.items()), body, parts.query, time.monotonic()
            )
            response = server.handle(request)
            if response is None:
                self.close_connection = True
                return
            payload = (
                response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
            )
            self.send_response(response.status)
            headers = {"Content-Type": "application/json;charset=UTF-8", **response.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output quiet; ``server.requests`` is the log

    return _Handler
