"""Built-in ``weekly_trend``: a multi-timeframe example — daily entries filtered by the weekly trend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch

_DAY_NS = 86_400 * 10**9


IntArray = np.ndarray[Any, np.dtype[np.int64]]


def completed_weeks(ts: IntArray) -> tuple[IntArray, IntArray]:
    """Weekly resampling that never peeks: ``(week_ends, known)``.

    Weeks run Monday 00:00 to Sunday 24:00 UTC. ``week_ends`` are the indices of the last bar of every
    week that has a later bar in the series (a finished week); ``known[t]`` is how many finished weeks
    precede bar t's own week — all of them end before bar t, so their closes are known at bar t. The
    week of the last bar is never treated as finished, exactly as a live bot would see it.
    """
    # 1970-01-01 was a Thursday: shifting by 3 days makes week numbers change on Mondays.
    week = (ts // _DAY_NS + 3) // 7
    is_end = np.zeros(len(ts), dtype=bool)
    is_end[:-1] = week[:-1] != week[1:]
    known = np.concatenate([[0], np.cumsum(is_end)[:-1]]) if len(ts) else np.zeros(0, dtype=np.int64)
    return np.flatnonzero(is_end).astype(np.int64), known.astype(np.int64)


class WeeklyTrend(Strategy):
    """Daily trend entries, only while the weekly trend (from finished weeks only) is up (long only).

    Rules, evaluated at each daily (or intraday) bar's close:

    * Weekly closes: the close of the last bar of each finished Monday-to-Sunday (UTC) week. At bar t
      only weeks that ended before bar t's week count; the current week is never used, so the rule
      never peeks at the rest of the week.
    * Weekly trend up at bar t: the last finished week's close > SMA of the last ``weeks`` finished
      weekly closes.
    * Daily trend up at bar t: ``close > SMA(close, period)``.
    * Position 1 while both are up, else 0 (no state; NaN warm-up counts as not up).
    """

    name = "weekly_trend"
    description = "Long while close > SMA(period) and the last finished week closed above its weekly SMA."

    class Params(StrategyParams):
        period: Annotated[int, Field(ge=1), Search(5, 100)] = 20
        weeks: Annotated[int, Field(ge=1), Search(4, 52)] = 10

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        import torch

        from torchtrader.indicators.kernels import sma
        from torchtrader.strategies.signals import by_unique

        ends, known = completed_weeks(bars.ts)
        device = bars.device
        daily_sma = by_unique(p.period, lambda n: sma(bars.close, n), memo=bars, key=("sma", "close"))
        daily_up = bars.close > daily_sma
        weekly_close = bars.close[torch.from_numpy(ends).to(device)]  # [W]
        weekly_up = weekly_close > by_unique(p.weeks, lambda n: sma(weekly_close, n))  # [combos, W]
        # Column k of ``padded`` is "the trend after k finished weeks": 0 finished weeks → not up.
        none_yet = torch.zeros((weekly_up.shape[0], 1), dtype=torch.bool, device=device)
        padded = torch.cat([none_yet, weekly_up], dim=1)
        filter_up = padded[:, torch.from_numpy(known).to(device)]  # [combos, T]
        return (daily_up & filter_up).to(bars.dtype)

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        return max(params.period, 7 * (params.weeks + 1))
