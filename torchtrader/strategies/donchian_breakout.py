"""Built-in ``donchian_breakout``: turtle-style channel breakouts, long and short."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, model_validator

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class DonchianBreakout(Strategy):
    """Channel breakout on the highs and lows of the previous bars (long and short).

    Rules, evaluated at each bar's close; channels cover the bars *before* the current one:

    * ``hi(n)[t] = max(high[t-n .. t-1])``, ``lo(n)[t] = min(low[t-n .. t-1])`` (TA-Lib MAX/MIN of the
      previous bar; NaN until ``n`` earlier bars exist).
    * Long entry: ``close > hi(entry)`` → 1. Long exit: ``close < lo(exit)`` → 0.
    * Short entry: ``close < lo(entry)`` → -1. Short exit: ``close > hi(exit)`` → 0.
    * A short entry also ends a long (and vice versa): since ``exit <= entry``, breaking the entry
      channel breaks the exit channel too, so the side flips on that bar.
    * Otherwise the last position is held; 0 before the first breakout.
    * Parameters: ``exit`` must be <= ``entry``.
    """

    name = "donchian_breakout"
    description = "Long above the previous entry-bar high, short below its low; exit on the exit channel."

    class Params(StrategyParams):
        entry: Annotated[int, Field(ge=1), Search(5, 200)] = 20
        exit: Annotated[int, Field(ge=1), Search(2, 100)] = 10

        @model_validator(mode="after")
        def _exit_within_entry(self) -> Self:
            if self.exit > self.entry:
                raise ValueError(f"exit ({self.exit}) must be <= entry ({self.entry})")
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import rolling_max, rolling_min
        from torchtrader.strategies.signals import by_unique, events_to_state, shift

        def highest(n: Tensor) -> Tensor:
            return shift(rolling_max(bars.high, n), 1)

        def lowest(n: Tensor) -> Tensor:
            return shift(rolling_min(bars.low, n), 1)

        hi_key, lo_key = ("prev_rolling_max", "high"), ("prev_rolling_min", "low")
        entry_hi = by_unique(p.entry, highest, memo=bars, key=hi_key)
        entry_lo = by_unique(p.entry, lowest, memo=bars, key=lo_key)
        exit_hi = by_unique(p.exit, highest, memo=bars, key=hi_key)
        exit_lo = by_unique(p.exit, lowest, memo=bars, key=lo_key)
        close = bars.close
        long = events_to_state(close > entry_hi, close < exit_lo, dtype=bars.dtype)
        short = events_to_state(close < entry_lo, close > exit_hi, dtype=bars.dtype)
        return long - short

    def overlays(self, bars: Bars, params: StrategyParams) -> dict[str, Tensor]:
        from torchtrader.indicators.kernels import rolling_max, rolling_min
        from torchtrader.strategies.signals import shift

        assert isinstance(params, self.Params)
        # the channels the rules compare with: extremes of the bars before the current one
        return {
            f"high of prior {params.entry}": shift(rolling_max(bars.high, params.entry), 1),
            f"low of prior {params.exit}": shift(rolling_min(bars.low, params.exit), 1),
        }

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        return params.entry + 1
