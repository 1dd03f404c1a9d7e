"""Validation task: one series of the lake, pinned to a bars version, through the bars rules."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.lake import Lake
from torchtrader.quality.gaps import calendar_for, find_gaps
from torchtrader.quality.validate import validate_bars


@task(name="validate-series", task_run_name="validate-{source}-{symbol}-{timeframe}", cache_policy=NO_CACHE)
def validate_series_task(
    lake_uri: str,
    storage_options: dict[str, str],
    source: str,
    symbol: str,
    timeframe: str,
    version: int,
) -> dict[str, Any]:
    """The stored series re-checked: failing rows (the rules; GX skipped) and gaps judged by the
    series' calendar (a stock's weekends and holidays are not gaps)."""
    frame = Lake(lake_uri, storage_options or None).read_bars(
        symbol, timeframe, source=source, version=version, adjust="none"
    )
    report = validate_bars(frame, timeframe, run_gx=False)
    gaps = find_gaps(report.valid.sort("ts"), timeframe, calendar=calendar_for(source, symbol))
    return {
        "source": source,
        "symbol": symbol,
        "timeframe": timeframe,
        "rows": frame.height,
        "failing_rows": report.invalid.height,
        "first_failure": (report.first_error() or (None, ""))[1],
        "gaps": len(gaps),
        "missing_bars": sum(g.missing_bars for g in gaps),
    }
