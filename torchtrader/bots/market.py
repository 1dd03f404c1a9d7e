"""The cycle's view of the market: bars brought up to date through the ingest path, and the
strategy's latest decisions computed by the same code as a backtest (batch = 1).

Only closed bars count: a bar opening at ``ts`` is closed once ``ts + timeframe <= now``. The
strategy sees the last ``lookback_bars`` closed bars (at least ``warmup() + 2``) and its decision at
the last one is compared with the decision one bar earlier (``bots.planning``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from torchtrader.bots.config import BotConfig
from torchtrader.bots.planning import Decision
from torchtrader.errors import BotError, LakeError
from torchtrader.ingest import IngestReport, ingest_source
from torchtrader.lake import Lake
from torchtrader.sources import Source, get_source
from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams, run_positions
from torchtrader.timeframes import timeframe_delta

logger = logging.getLogger(__name__)


def forming_bar(now: datetime, timeframe: str) -> datetime:
    """Open time of the bar still forming at ``now`` (every earlier bar is closed)."""
    step = timeframe_delta(timeframe)
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    return epoch + ((now - epoch) // step) * step


def bars_needed(config: BotConfig, strategy: Strategy, params: StrategyParams) -> int:
    return max(config.lookback_bars, strategy.warmup(params) + 2)


def make_source(config: BotConfig) -> Source:
    options: dict[str, Any] = dict(config.source_options)
    if config.source == "synthetic" and "symbols" not in options:
        options["symbols"] = list(config.symbols)
    if config.source == "ccxt" and config.broker.kind == "ccxt":
        # bars from the venue the bot trades on, unless the config says otherwise
        options.setdefault("exchange", config.broker.exchange)
        if config.broker.api_url:
            options.setdefault("api_url", config.broker.api_url)
        if config.broker.exchange_options:  # the same venue: the same client options (never credentials)
            options.setdefault("exchange_options", dict(config.broker.exchange_options))
    return get_source(config.source, **options)


def update_bars(
    config: BotConfig, lake: Lake, source: Source, *, now: datetime, needed: int
) -> list[IngestReport]:
    """Fetch, validate and upsert every symbol's closed bars up to ``now`` (incremental)."""
    end = forming_bar(now, config.timeframe)
    step = timeframe_delta(config.timeframe)
    first = end - (needed + 3) * step
    reports = []
    for symbol in config.symbols:
        last = lake.last_ts(source.name, symbol, config.timeframe)
        if last is not None and last >= end - step:
            continue  # the last closed bar is in already (another bot on this series fetched it)
        reports.append(ingest_source(lake, source, symbol, config.timeframe, start=first, end=end))
    return reports


def decide(
    config: BotConfig,
    lake: Lake,
    strategy: Strategy,
    params: StrategyParams,
    *,
    now: datetime,
) -> list[Decision]:
    """Each symbol's target at its last closed bar and at the bar before (all symbols, one bar time)."""
    needed = bars_needed(config, strategy, params)
    end = forming_bar(now, config.timeframe)
    batch = ParamBatch.from_params([params])
    decisions = []
    for symbol in config.symbols:
        try:
            frame = lake.read_bars(symbol, config.timeframe, source=config.source, end=end)
        except LakeError as error:
            raise BotError(f"bot {config.name}: {error}") from None
        frame = frame.tail(needed)
        minimum = strategy.warmup(params) + 2
        if frame.height < minimum:
            raise BotError(
                f"bot {config.name}: {symbol} {config.timeframe} has {frame.height} closed bar(s) in the "
                f"lake; strategy {config.strategy} needs at least {minimum}"
            )
        bars = Bars.from_frame(frame)
        positions = run_positions(strategy, bars, batch)[0]
        ts = frame["ts"][-1]
        assert isinstance(ts, datetime)
        decisions.append(
            Decision(symbol, ts, float(positions[-1]), float(positions[-2]), float(frame["close"][-1]))
        )
    stamps = {d.bar_ts for d in decisions}
    if len(stamps) > 1:
        logger.warning("%s: symbols' last closed bars differ: %s", config.name, sorted(stamps))
    return decisions
