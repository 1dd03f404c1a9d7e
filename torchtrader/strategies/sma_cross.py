"""Built-in ``sma_cross``: long after the fast SMA crosses above the slow SMA, flat after it crosses below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, model_validator

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class SmaCross(Strategy):
    """Moving-average crossover on simple moving averages of the close (long only).

    Rules, evaluated at each bar's close:

    * ``fast = SMA(close, fast)``, ``slow = SMA(close, slow)`` (TA-Lib SMA, NaN during warm-up).
    * Cross above on bar t: ``fast <= slow`` on bar t-1 and ``fast > slow`` on bar t → position 1.
    * Cross below on bar t: ``fast >= slow`` on bar t-1 and ``fast < slow`` on bar t → position 0.
    * Between crosses the last position is held; before the first cross above the position is 0. A bar
      whose previous bar is still in warm-up is never a cross.
    * Parameters: ``slow`` must be greater than ``fast``.
    """

    name = "sma_cross"
    description = "Long after SMA(fast) crosses above SMA(slow), flat after it crosses below."

    class Params(StrategyParams):
        fast: Annotated[int, Field(ge=1), Search(2, 100)] = 10
        slow: Annotated[int, Field(ge=2), Search(5, 400)] = 30

        @model_validator(mode="after")
        def _slow_above_fast(self) -> Self:
            if self.slow <= self.fast:
                raise ValueError(f"slow ({self.slow}) must be > fast ({self.fast})")
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import sma
        from torchtrader.strategies.signals import crossover_state, unique_rows

        # One memo key for both: a period that is fast in one combo and slow in another is computed once;
        # unique_rows hands crossover_state the distinct rows, never a [combos, time] copy of them.
        fast = unique_rows(p.fast, lambda n: sma(bars.close, n), memo=bars, key=("sma", "close"))
        slow = unique_rows(p.slow, lambda n: sma(bars.close, n), memo=bars, key=("sma", "close"))
        return crossover_state(fast, slow)

    def overlays(self, bars: Bars, params: StrategyParams) -> dict[str, Tensor]:
        from torchtrader.indicators.kernels import sma

        assert isinstance(params, self.Params)
        return {f"SMA({n})": sma(bars.close, n) for n in (params.fast, params.slow)}

    def warmup(self, params: StrategyParams) -> int:
        assert isinstance(params, self.Params)
        return params.slow + 1
