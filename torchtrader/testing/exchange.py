"""A loopback Binance spot exchange with seeded bars, an account and faults: for tests, demos, scripts.

    python -m torchtrader.testing.exchange --port 8765 --symbols BTC/USDT,ETH/USDT --timeframe 1m \\
        --bar-seconds 2 --faults 429=0.05,partial=0.2 --seed 7 --api-key K --api-secret S \\
        --balance USDT=10000

Bars come from the seeded ``synthetic`` source. The market clock decides which bars have closed
(klines serve closed bars only) and where market orders fill (the open of the forming bar):

- no ``--bar-seconds``: the clock is the wall clock, so bars close at their real times;
- ``--bar-seconds S``: one bar closes every S seconds of wall time. When that is faster than real
  time, the market starts ``lead`` bars in the past and runs ahead of them, so every bar it serves
  is already closed by the wall clock too and a bot looping on real time sees a new bar every S s;
- ``LoopbackExchange(manual=True)`` (tests): the clock moves only with ``advance()``.

It prints ``listening on http://127.0.0.1:PORT`` once it serves, then serves until killed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Self

import polars as pl

from torchtrader.errors import ConfigError, TorchTraderError
from torchtrader.sources.synthetic import SyntheticSource
from torchtrader.testing.binance_server import BinanceServer
from torchtrader.testing.binance_trading import BinanceTrading
from torchtrader.testing.faults import FaultPlan
from torchtrader.timeframes import timeframe_seconds

logger = logging.getLogger(__name__)
DEFAULT_LEAD_BARS = 5_000


class MarketClock:
    """Market time in ms: ``start + (wall - wall_at_start) × speed + advanced``."""

    def __init__(self, start_ms: int, speed: float) -> None:
        self.start_ms = start_ms
        self.speed = speed
        self._wall0 = time.time()
        self._advanced = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.start_ms + int((time.time() - self._wall0) * 1000 * self.speed) + self._advanced

    def advance(self, ms: int) -> None:
        with self._lock:
            self._advanced += ms


class LoopbackExchange:
    """A started ``BinanceServer`` with trading, seeded bars and a market clock (a context manager)."""

    def __init__(
        self,
        symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
        *,
        timeframe: str = "1m",
        seed: int = 0,
        history: int = 500,
        bar_seconds: float | None = None,
        manual: bool = False,
        lead: int | None = None,
        faults: FaultPlan | str | None = None,
        api_key: str = "loopback-key",
        api_secret: str = "loopback-secret",
        balances: dict[str, float] | None = None,
        port: int = 0,
    ) -> None:
        step = timeframe_seconds(timeframe)
        if bar_seconds is not None and not bar_seconds > 0:
            raise ConfigError(f"--bar-seconds must be positive, got {bar_seconds}")
        self.timeframe, self.step_ms = timeframe, step * 1000
        now_ms = int(time.time() * 1000)
        forming = now_ms // self.step_ms * self.step_ms
        speed = 0.0 if manual else (step / bar_seconds if bar_seconds else 1.0)
        if lead is None:
            lead = DEFAULT_LEAD_BARS if (manual or speed > 1.0) else 0
        self.clock = MarketClock(forming - lead * self.step_ms if (manual or bar_seconds) else now_ms, speed)
        first = self.clock.start_ms - history * self.step_ms
        # a manual clock can walk up to the present; a running one gets 2000 bars of future to serve
        last = forming if manual else forming + 2_000 * self.step_ms
        self.bars = seeded_bars(symbols, timeframe, seed, first, last)
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults, seed=seed)
        self.server = BinanceServer(self.bars, symbols=symbols, port=port)
        self.server.market_clock = self.clock
        self.trading = BinanceTrading(
            self.server, api_key=api_key, api_secret=api_secret, balances=balances, faults=plan
        )
        self.api_key, self.api_secret = api_key, api_secret

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def faults(self) -> FaultPlan:
        return self.trading.faults

    def advance(self, bars: int = 1) -> None:
        """Move the market clock ``bars`` bars forward (fills resting orders on the next request)."""
        self.clock.advance(bars * self.step_ms)

    def market_time(self) -> datetime:
        return datetime.fromtimestamp(self.clock() / 1000, UTC)

    def __enter__(self) -> Self:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def seeded_bars(
    symbols: tuple[str, ...], timeframe: str, seed: int, first_ms: int, last_ms: int
) -> pl.DataFrame:
    source = SyntheticSource(seed=seed, symbols=list(symbols))
    start = datetime.fromtimestamp(first_ms / 1000, UTC)
    end = datetime.fromtimestamp(last_ms / 1000, UTC) + timedelta(milliseconds=1)
    return pl.concat([source.fetch(symbol, timeframe, start, end) for symbol in symbols])


def _balances(items: list[str]) -> dict[str, float]:
    balances: dict[str, float] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        try:
            balances[asset.strip().upper()] = float(amount)
        except ValueError:
            raise ConfigError(f"bad --balance {item!r}: write ASSET=AMOUNT, e.g. USDT=10000") from None
        if not sep or balances[asset.strip().upper()] < 0:
            raise ConfigError(f"bad --balance {item!r}: write ASSET=AMOUNT with AMOUNT >= 0")
    return balances or {"USDT": 10_000.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m torchtrader.testing.exchange", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    parser.add_argument("--timeframe", default="1m")
    parser.add_argument("--bar-seconds", type=float, default=None, help="a new bar closes every S seconds")
    parser.add_argument("--faults", default="", help="kind=rate,... (latency, 429, 5xx, timeout, ...)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history", type=int, default=500, help="closed bars served at start")
    parser.add_argument("--api-key", default="loopback-key")
    parser.add_argument("--api-secret", default="loopback-secret")
    parser.add_argument("--balance", action="append", default=[], help="ASSET=AMOUNT (repeatable)")
    args = parser.parse_args(argv)
    try:
        symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
        if not symbols or not all(s.count("/") == 1 for s in symbols):
            raise ConfigError(f"bad --symbols {args.symbols!r}: write BASE/QUOTE,BASE/QUOTE")
        exchange = LoopbackExchange(
            symbols,
            timeframe=args.timeframe,
            seed=args.seed,
            history=args.history,
            bar_seconds=args.bar_seconds,
            faults=args.faults,
            api_key=args.api_key,
            api_secret=args.api_secret,
            balances=_balances(args.balance),
            port=args.port,
        )
        exchange.__enter__()
    except (TorchTraderError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"listening on {exchange.url}", flush=True)  # the key and secret are never printed
    try:
        stop.wait()
    finally:
        exchange.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
