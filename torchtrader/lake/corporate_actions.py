"""Corporate actions (splits, cash dividends) and the price adjustment applied when bars are read.

The ``corporate_actions`` table holds one row per event: symbol, ``ts`` (the ex-date, UTC midnight),
``kind`` ("split" or "dividend"), ``value`` and the ``source`` that reported it; key (symbol, kind, ts),
so two sources reporting the same event keep one row. Conventions of ``value``:

- split: new shares per old share (a 4-for-1 split is 4.0, a 1-for-10 reverse split 0.1);
- dividend: cash per share *as paid*, in the share basis of its ex-date (not back-adjusted).

Bars stay as delivered; adjustment happens at read time (``Lake.read_bars(adjust=...)``):

- ``none``: raw prices.
- ``split``: every bar before a split's ex-date has prices divided by the split ratio and volume
  multiplied by it (ratios of all later splits multiply), so prices are comparable across splits.
- ``total``: ``split`` and, for each dividend, prices before its ex-date multiplied by
  ``1 - dividend / close`` (close of the last bar before the ex-date, both in the same raw basis): the
  CRSP/Yahoo "adjusted close" convention, so returns include reinvested dividends. Volume is not
  changed by dividends.

A series without events comes back unchanged (crypto, synthetic data), and so do series of
``PRE_ADJUSTED`` sources: Yahoo's prices are split-adjusted by Yahoo itself (and dividend-adjusted too
with yfinance's default ``auto_adjust=True``), so adjusting them again would count each split twice.
Their actions are still worth storing: they adjust the same symbol's bars from other sources (csv,
alphavantage, sample).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Literal, get_args

import polars as pl

from torchtrader.errors import DataError, LakeError

if TYPE_CHECKING:
    from torchtrader.lake._store import TableStore

Adjust = Literal["split", "total", "none"]
ADJUST_MODES: tuple[str, ...] = get_args(Adjust)
TABLE = "corporate_actions"
KEY = ("symbol", "kind", "ts")
KINDS = ("split", "dividend")
ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "kind": pl.String(),
    "value": pl.Float64(),
    "source": pl.String(),
}
_PRICES = ("open", "high", "low", "close")
PRE_ADJUSTED = frozenset({"yfinance"})


def check_adjust(adjust: str) -> Adjust:
    if adjust not in ADJUST_MODES:
        raise LakeError(f"invalid adjust {adjust!r}: use one of {', '.join(ADJUST_MODES)}")
    return adjust  # type: ignore[return-value]


def empty_actions() -> pl.DataFrame:
    return pl.DataFrame(schema=ACTIONS_SCHEMA)


def to_actions(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in ACTIONS_SCHEMA, one row per key; DataError naming the first impossible event."""
    missing = [name for name in ACTIONS_SCHEMA if name not in frame.columns]
    if missing:
        raise DataError(f"corporate actions frame lacks column(s) {', '.join(missing)}")
    frame = frame.select(pl.col(name).cast(dtype) for name, dtype in ACTIONS_SCHEMA.items())
    bad_kind = frame.filter(~pl.col("kind").is_in(KINDS))
    if bad_kind.height:
        raise DataError(f"unknown corporate action kind {bad_kind['kind'][0]!r}: use split or dividend")
    impossible = frame.filter(
        pl.col("value").is_null()
        | pl.col("value").is_nan()
        | ((pl.col("kind") == "split") & (pl.col("value") <= 0))
        | ((pl.col("kind") == "dividend") & (pl.col("value") < 0))
        | pl.col("ts").is_null()
        | pl.col("symbol").is_null()
    )
    if impossible.height:
        row = impossible.row(0, named=True)
        raise DataError(
            f"impossible corporate action {row['kind']} {row['value']} for {row['symbol']} at {row['ts']}"
        )
    # A split ratio of exactly 1 or a zero dividend changes nothing: yfinance reports those as filler.
    useful = ~(((pl.col("kind") == "split") & (pl.col("value") == 1.0)) | (pl.col("value") == 0.0))
    return frame.filter(useful).unique(list(KEY), keep="last", maintain_order=True).sort("symbol", "ts")


def adjust_bars(bars: pl.DataFrame, actions: pl.DataFrame, adjust: Adjust) -> pl.DataFrame:
    """Bars of ONE symbol (sorted by ts) adjusted for that symbol's ``actions`` (see module docstring)."""
    if adjust == "none" or bars.height == 0 or actions.height == 0:
        return bars
    splits = actions.filter(pl.col("kind") == "split").sort("ts")
    # Each bar takes the cumulative factor of every event strictly after it: a reverse cumulative
    # product over the events, looked up with a forward as-of join that excludes the ex-date itself.
    factors = _suffix_product(splits.select("ts", pl.col("value").alias("split_factor")), "split_factor")
    if adjust == "total":
        dividends = actions.filter(pl.col("kind") == "dividend").sort("ts")
        closes = bars.select("ts", pl.col("close").alias("_prev_close"))
        with_close = dividends.join_asof(closes, on="ts", strategy="backward", allow_exact_matches=False)
        multipliers = with_close.filter(pl.col("_prev_close").is_not_null()).select(
            "ts", (1.0 - pl.col("value") / pl.col("_prev_close")).alias("dividend_factor")
        )
        dividend_factors = _suffix_product(multipliers, "dividend_factor")
    else:
        dividend_factors = pl.DataFrame(schema={"ts": ACTIONS_SCHEMA["ts"], "dividend_factor": pl.Float64()})
    if factors.height == 0 and dividend_factors.height == 0:
        return bars
    joined = bars.join_asof(
        factors, on="ts", strategy="forward", allow_exact_matches=False, check_sortedness=False
    ).join_asof(
        dividend_factors, on="ts", strategy="forward", allow_exact_matches=False, check_sortedness=False
    )
    split = pl.col("split_factor").fill_null(1.0)
    price = pl.col("dividend_factor").fill_null(1.0) / split
    return joined.with_columns(
        *(pl.col(name) * price for name in _PRICES), (pl.col("volume") * split).alias("volume")
    ).select(bars.columns)


def _suffix_product(events: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per event: the product of its own and every later event's factor (events sorted by ts)."""
    if events.height == 0:
        return events
    return events.with_columns(pl.col(column).reverse().cum_prod().reverse())


class ActionsCache:
    """The corporate actions of each symbol, read once per table version (reads are on every bar read)."""

    def __init__(self) -> None:
        self._cached: OrderedDict[tuple[int, str | None], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: TableStore, symbol: str | None) -> pl.DataFrame:
        from torchtrader.lake._tables import read_table

        table = store.latest(TABLE)
        if table is None:
            return empty_actions()
        key = (table.version(), symbol)
        with self._lock:
            cached = self._cached.get(key)
        if cached is None:
            filters = [("symbol", "=", symbol)] if symbol is not None else None
            cached = read_table(store, TABLE, version=key[0], filters=filters).sort("symbol", "ts")
            with self._lock:
                self._cached[key] = cached
                while len(self._cached) > 64:
                    self._cached.popitem(last=False)
        return cached
