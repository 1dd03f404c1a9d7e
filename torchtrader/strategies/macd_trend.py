"""Built-in ``macd_trend``: follow the MACD line's crosses of its signal line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, model_validator

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class MacdTrend(Strategy):
    """Trend following on MACD (long; short instead of flat when ``short=true``).

    Rules, evaluated at each bar's close:

    * ``line, signal, _ = MACD(close, fast, slow, signal)`` (TA-Lib MACD: NaN for the first
      ``slow + signal - 2`` bars).
    * Cross above (``line <= signal`` on bar t-1, ``line > signal`` on bar t) → 1.
    * Cross below (``line >= signal`` on bar t-1, ``line < signal`` on bar t) → 0, or -1 with
      ``short=true``.
    * Between crosses the last position is held; 0 before the first cross of either kind.
    * Parameters: ``slow`` must be greater than ``fast``.
    """

    name = "macd_trend"
    description = "Long after MACD crosses above its signal line; flat (or short) after it crosses below."

    class Params(StrategyParams):
        fast: Annotated[int, Field(ge=2), Search(2, 50)] = 12
        slow: Annotated[int, Field(ge=3), Search(5, 200)] = 26
        signal: Annotated[int, Field(ge=1), Search(2, 50)] = 9
        short: bool = False

        @model_validator(mode="after")
        def _slow_above_fast(self) -> Self:
            if self.slow <= self.fast:
                raise ValueError(f"slow ({self.slow}) must be > fast ({self.fast})")
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import macd
        from torchtrader.strategies.signals import cross_above, cross_below, last_true

        line, signal, _ = macd(bars.close, p.fast, p.slow, p.signal)
        up, down = last_true(cross_above(line, signal)), last_true(cross_below(line, signal))
        long = (up > down).to(bars.dtype)
        short = (down > up).to(bars.dtype) * p.short.to(bars.dtype)[:, None]
        return long - short

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        return 10 * params.slow + params.signal
