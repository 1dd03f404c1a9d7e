"""The lake's watchlist: which series are kept fresh (symbols × timeframes × source) and how stale is too old.

A TOML file (``deployments/watchlist.toml`` is the example the deployments use)::

    alerts = ["json://127.0.0.1:8080/hook"]      # apprise URLs for staleness alerts (optional)

    [[entry]]
    name = "binance-hourly"                       # deployment name suffix; unique
    source = "ccxt"
    source_options = {exchange = "binance"}
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframes = ["1h"]
    cron = "5 * * * *"                            # schedule of its ingest deployment
    stale_after = "3h"                            # optional; default below

Each run of an entry ingests incrementally (``torchtrader.ingest.ingest_source`` starts a few bars
before the last stored one), so it fetches only what is missing. A series is *stale* when its last bar
opened longer ago than ``stale_after``; the default is three bars, and for daily stock bars four days
(a long weekend is not staleness).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from torchtrader.errors import ConfigError, TorchTraderError
from torchtrader.timeframes import timeframe_delta, timeframe_seconds

if TYPE_CHECKING:
    from torchtrader.ingest import IngestReport
    from torchtrader.lake import Lake

log = logging.getLogger(__name__)
DEFAULT_WATCHLIST = "deployments/watchlist.toml"
_STOCK_SOURCES = frozenset({"yfinance", "alphavantage", "sample", "csv"})


class WatchEntry(BaseModel):
    """One group of series kept fresh together: same source, every symbol × every timeframe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    source: str
    symbols: list[str] = Field(min_length=1)
    timeframes: list[str] = Field(min_length=1)
    source_options: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = None
    stale_after: str | None = Field(default=None, description="ccxt-style duration: 90m, 3h, 4d")

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, values: list[str]) -> list[str]:
        for value in values:
            timeframe_seconds(value)
        return values

    @field_validator("stale_after")
    @classmethod
    def _known_duration(cls, value: str | None) -> str | None:
        if value is not None:
            timeframe_seconds(value)
        return value

    def stale_limit(self, symbol: str, timeframe: str) -> timedelta:
        if self.stale_after is not None:
            return timeframe_delta(self.stale_after)
        limit = 3 * timeframe_delta(timeframe)
        if self.source in _STOCK_SOURCES and "/" not in symbol and timeframe_seconds(timeframe) >= 86_400:
            limit = max(limit, timedelta(days=4))
        return limit


class Watchlist(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alerts: list[str] = Field(default_factory=list, repr=False)
    entry: list[WatchEntry] = Field(min_length=1)

    def get(self, name: str) -> WatchEntry:
        for entry in self.entry:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.entry)
        raise ConfigError(f"watchlist has no entry {name!r}; entries: {known}")


def load_watchlist(path: str | Path = DEFAULT_WATCHLIST) -> Watchlist:
    """The watchlist in a TOML file; ConfigError naming the file and the first problem otherwise."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text())
    except OSError as error:
        raise ConfigError(f"{file}: cannot read watchlist ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    try:
        watchlist = Watchlist(**data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "watchlist"
        raise ConfigError(f"{file}: {where}: {first['msg']}") from None
    except TorchTraderError as error:
        raise ConfigError(f"{file}: {error}") from None
    names = [e.name for e in watchlist.entry]
    if len(set(names)) != len(names):
        raise ConfigError(f"{file}: entry names repeat ({', '.join(sorted(names))}): make them unique")
    return watchlist


@dataclass(frozen=True)
class Freshness:
    """How old one watched series is."""

    entry: str
    source: str
    symbol: str
    timeframe: str
    last_ts: datetime | None
    age_s: float | None
    stale_after_s: float
    stale: bool

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
        }


def age_seconds(last_ts: datetime | None, now: datetime) -> float | None:
    """Seconds since the last bar opened (the lake stores open times); None when there is none."""
    return None if last_ts is None else max(0.0, (now - last_ts).total_seconds())


def freshness(lake: Lake, watchlist: Watchlist, *, now: datetime | None = None) -> list[Freshness]:
    """Every watched series with its age; a series never ingested is stale."""
    moment = now or datetime.now(UTC)
    found = []
    for entry in watchlist.entry:
        for symbol in entry.symbols:
            for timeframe in entry.timeframes:
                last = lake.last_ts(entry.source, symbol, timeframe)
                limit = entry.stale_limit(symbol, timeframe)
                age = age_seconds(last, moment)
                found.append(
                    Freshness(
                        entry=entry.name,
                        source=entry.source,
                        symbol=symbol,
                        timeframe=timeframe,
                        last_ts=last,
                        age_s=age,
                        stale_after_s=limit.total_seconds(),
                        stale=age is None or age > limit.total_seconds(),
                    )
                )
    return found


def check_freshness(
    lake: Lake,
    watchlist: Watchlist,
    *,
    now: datetime | None = None,
    urls: Sequence[str] | None = None,
) -> list[Freshness]:
    """``freshness`` plus one alert (``torchtrader.alerts.send_alert``) listing the stale series."""
    found = freshness(lake, watchlist, now=now)
    stale = [f for f in found if f.stale]
    targets = list(urls) if urls is not None else watchlist.alerts
    if stale and targets:
        from torchtrader.alerts import send_alert  # deferred: apprise is only needed to deliver

        lines = [
            f"{f.source} {f.symbol} {f.timeframe}: last bar {f.last_ts.isoformat() if f.last_ts else 'never'}"
            for f in stale
        ]
        send_alert(targets, title=f"{len(stale)} stale lake series", body="\n".join(lines), kind="stale_data")
    for f in stale:
        log.warning("stale: %s %s %s (last bar %s)", f.source, f.symbol, f.timeframe, f.last_ts)
    return found


def ingest_entry(
    lake: Lake, entry: WatchEntry, *, end: datetime | None = None
) -> tuple[list[IngestReport], dict[str, str]]:
    """One incremental ingest of every series of an entry: (reports, {series: error}) — one failing
    series never stops the others."""
    from torchtrader.ingest import ingest_source
    from torchtrader.sources import get_source

    source = get_source(entry.source, **entry.source_options)
    reports, failures = [], {}
    for symbol in entry.symbols:
        for timeframe in entry.timeframes:
            try:
                reports.append(ingest_source(lake, source, symbol, timeframe, None, end))
            except TorchTraderError as error:
                failures[f"{symbol} {timeframe}"] = str(error)
    return reports, failures
