"""``synthetic``: seeded, intraday, crypto-like bars that need no network.

Each bar is a pure function of (seed, symbol, timeframe, bar index), where bar ``i`` opens at
``GENESIS + i * timeframe``. So any two requests agree on the bars they share, and fetching
``[a, c)`` equals fetching ``[a, b)`` then ``[b, c)``, which is what incremental ingest relies on.

How the path is built without walking from GENESIS bar by bar:

- bars are grouped in blocks of ``BLOCK`` bars; a block-level random walk (one counter-based Philox
  stream per series, read as a prefix) fixes each block's volatility regime (an AR(1) in log-volatility,
  giving volatility clustering) and its total log-return;
- inside a block, a Brownian bridge (its own Philox stream keyed by the block number) joins the block's
  start and end prices, so the bar path is an exact random walk yet any block is built on its own.

OHLC are valid by construction: open is the previous close, high/low wrap open and close with
half-normal wicks, prices are exponentials (positive) and volume is log-normal (positive).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from torchtrader.errors import SourceError
from torchtrader.lake.schema import empty_bars, to_canonical_bars
from torchtrader.sources.base import Source, check_range
from torchtrader.timeframes import timeframe_seconds

GENESIS = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
BLOCK = 1024
_YEAR_SECONDS = 365 * 86400
_VOL_PERSISTENCE = 0.9  # AR(1) coefficient of block log-volatility
_VOL_OF_VOL = 0.35  # stationary std of block log-volatility
_MAX_BARS = 20_000_000  # refuse ranges that would not fit comfortably in memory

# (start price, annual volatility, base volume per day) at GENESIS, roughly the real markets then.
_PROFILES: dict[str, tuple[float, float, float]] = {
    "BTC/USDT": (42_000.0, 0.60, 30_000.0),
    "ETH/USDT": (2_300.0, 0.75, 300_000.0),
}

FloatArray = npt.NDArray[np.float64]


def _symbol_key(symbol: str) -> int:
    return zlib.crc32(symbol.encode("utf-8"))


def _profile(symbol: str) -> tuple[float, float, float]:
    if symbol in _PROFILES:
        return _PROFILES[symbol]
    key = _symbol_key(symbol)
    return (10.0 + key % 1000, 0.8, 1_000_000.0)


def _stream(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(list(key))))


class SyntheticSource(Source):
    """Deterministic crypto-like bars for its symbols (default BTC/USDT, ETH/USDT; ``symbols=[...]`` to
    serve others: any name works, BTC/USDT and ETH/USDT start near their January 2024 prices)."""

    name: ClassVar[str] = "synthetic"

    def __init__(self, seed: int = 42, symbols: list[str] | tuple[str, ...] | None = None) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SourceError(f"synthetic seed must be a non-negative integer, not {seed!r}")
        self.seed = seed
        self._symbols = list(symbols) if symbols is not None else list(DEFAULT_SYMBOLS)
        if not self._symbols or not all(isinstance(name, str) and name for name in self._symbols):
            raise SourceError("synthetic symbols must be non-empty names such as BTC/USDT")

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed})"

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        """Bars in [start, end); start None = GENESIS (2024-01-01), end None = the last closed bar now."""
        if symbol not in self._symbols:
            raise SourceError(
                f"synthetic has no symbol {symbol!r}; it serves {', '.join(self._symbols)} "
                "(pass symbols=[...] to serve others)"
            )
        seconds = timeframe_seconds(timeframe)
        if not 60 <= seconds <= 7 * 86400:
            raise SourceError(f"synthetic serves timeframes from 1m to 1w, not {timeframe!r}")
        start_utc, end_utc = check_range(start, end)
        step = timedelta(seconds=seconds)
        if end_utc is None:
            end_utc = GENESIS + ((datetime.now(UTC) - GENESIS) // step) * step
        first = 0 if start_utc is None else max(0, -((GENESIS - start_utc) // step))
        stop = max(0, -((GENESIS - end_utc) // step))  # ceil: bars opening strictly before end
        if stop <= first:
            return empty_bars()
        if stop - first > _MAX_BARS:
            raise SourceError(
                f"synthetic range of {stop - first} {timeframe} bars is too large; ask for a shorter range"
            )
        opens, highs, lows, closes, volumes = self._bars(symbol, seconds, first, stop)
        index = np.arange(first, stop, dtype=np.int64)
        ts = (int(GENESIS.timestamp()) + index * seconds) * 1_000_000
        frame = pl.DataFrame(
            {"ts": ts, "open": opens, "high": highs, "low": lows, "close": closes, "volume": volumes}
        ).with_columns(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        return to_canonical_bars(frame, source=self.name, symbol=symbol, timeframe=timeframe)

    def _bars(
        self, symbol: str, seconds: int, first: int, stop: int
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        price0, annual_vol, day_volume = _profile(symbol)
        bar_vol = annual_vol * np.sqrt(seconds / _YEAR_SECONDS)
        base_volume = day_volume * seconds / 86400
        key = (self.seed, _symbol_key(symbol), seconds)

        last_block = (stop - 1) // BLOCK
        shocks = _stream(*key, 0).standard_normal((last_block + 1, 2))
        log_vol = np.empty(last_block + 1)
        level = 0.0
        innovation = _VOL_OF_VOL * np.sqrt(1 - _VOL_PERSISTENCE**2)
        for block in range(last_block + 1):
            level = _VOL_PERSISTENCE * level + innovation * shocks[block, 0]
            log_vol[block] = level
        sigma = bar_vol * np.exp(log_vol - 0.5 * _VOL_OF_VOL**2)
        block_return = sigma * np.sqrt(BLOCK) * shocks[:, 1]
        # log price at every block boundary; block k runs from boundary k to boundary k + 1
        boundary = np.log(price0) + np.concatenate(([0.0], np.cumsum(block_return)))

        pieces: list[FloatArray] = []
        for block in range(first // BLOCK, last_block + 1):
            pieces.append(self._block(key, block, boundary[block], boundary[block + 1], sigma[block]))
        table = np.concatenate(pieces, axis=0)
        offset = first - (first // BLOCK) * BLOCK
        table = table[offset : offset + (stop - first)]
        opens, closes, wick_up, wick_down, noise = table.T
        highs = np.maximum(opens, closes) * np.exp(wick_up)
        lows = np.minimum(opens, closes) * np.exp(-wick_down)
        moves = np.abs(np.log(closes / opens)) / (bar_vol + 1e-12)
        volumes = base_volume * np.exp(0.6 * noise - 0.18) * (0.5 + moves)
        return opens, highs, lows, closes, volumes

    def _block(
        self, key: tuple[int, int, int], block: int, log_start: float, log_end: float, sigma: float
    ) -> FloatArray:
        """Columns (open, close, up-wick, down-wick, volume noise) of one block's BLOCK bars."""
        rng = _stream(*key, 1, block)
        steps = rng.standard_normal(BLOCK) * sigma
        extras = rng.standard_normal((BLOCK, 3))
        walk = np.concatenate(([0.0], np.cumsum(steps)))
        fraction = np.arange(BLOCK + 1) / BLOCK
        path = log_start + walk - fraction * (walk[-1] - (log_end - log_start))
        path[-1] = log_end  # exact, so a block's last close is bit-identical to the next block's first open
        prices = np.exp(path)
        wicks = 0.5 * sigma * np.abs(extras[:, :2])
        return np.column_stack((prices[:-1], prices[1:], wicks[:, 0], wicks[:, 1], extras[:, 2]))
