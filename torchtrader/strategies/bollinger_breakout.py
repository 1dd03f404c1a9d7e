"""Built-in ``bollinger_breakout``: follow a close outside the Bollinger bands back to the middle band."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class BollingerBreakout(Strategy):
    """Volatility breakout on Bollinger bands of the close (long; short too when ``short=true``).

    Rules, evaluated at each bar's close:

    * ``upper, middle, lower = BBANDS(close, period, width, width)`` (TA-Lib, SMA middle band,
      population standard deviation; NaN for the first ``period - 1`` bars).
    * Long entry: ``close > upper`` → 1. Long exit: ``close < middle`` → 0.
    * With ``short=true`` also: short entry ``close < lower`` → -1, short exit ``close > middle`` → 0.
      A close below the lower band both ends a long and (if allowed) opens a short.
    * Otherwise the last position is held; 0 before the first entry.
    """

    name = "bollinger_breakout"
    description = "Long above the upper Bollinger band until the close drops below the middle band."

    class Params(StrategyParams):
        period: Annotated[int, Field(ge=2), Search(5, 100)] = 20
        width: Annotated[float, Field(gt=0), Search(1.0, 3.5)] = 2.0
        short: bool = False

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import bbands
        from torchtrader.strategies.signals import events_to_state

        width = p.width.to(bars.dtype)
        upper, middle, lower = bbands(bars.close, p.period, width, width)
        long = events_to_state(bars.close > upper, bars.close < middle, dtype=bars.dtype)
        short = events_to_state(bars.close < lower, bars.close > middle, dtype=bars.dtype)
        # The two states never overlap: each side's entry is beyond the other side's exit.
        return long - short * p.short.to(bars.dtype)[:, None]

    def overlays(self, bars: Bars, params: StrategyParams) -> dict[str, Tensor]:
        from torchtrader.indicators.kernels import bbands

        assert isinstance(params, self.Params)
        upper, middle, lower = bbands(bars.close, params.period, params.width, params.width)
        label = f"BB({params.period}, {params.width:g})"
        return {f"{label} upper": upper, f"{label} middle": middle, f"{label} lower": lower}

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        return params.period
