"""Built-in ``ema_cross``: long after the fast EMA crosses above the slow EMA, flat after it crosses below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, model_validator

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class EmaCross(Strategy):
    """Moving-average crossover on exponential moving averages of the close (long only).

    Rules, evaluated at each bar's close:

    * ``fast = EMA(close, fast)``, ``slow = EMA(close, slow)`` (TA-Lib EMA: seeded with the SMA of
      the first ``n`` closes, NaN during warm-up).
    * Cross above on bar t: ``fast <= slow`` on bar t-1 and ``fast > slow`` on bar t → position 1.
    * Cross below on bar t: ``fast >= slow`` on bar t-1 and ``fast < slow`` on bar t → position 0.
    * Between crosses the last position is held; before the first cross above the position is 0. A bar
      whose previous bar is still in warm-up is never a cross.
    * Parameters: ``slow`` must be greater than ``fast``.
    """

    name = "ema_cross"
    description = "Long after EMA(fast) crosses above EMA(slow), flat after it crosses below."

    class Params(StrategyParams):
        fast: Annotated[int, Field(ge=1), Search(2, 100)] = 12
        slow: Annotated[int, Field(ge=2), Search(5, 400)] = 26

        @model_validator(mode="after")
        def _slow_above_fast(self) -> Self:
            if self.slow <= self.fast:
                raise ValueError(f"slow ({self.slow}) must be > fast ({self.fast})")
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import ema
        from torchtrader.strategies.signals import by_unique, crossover_state

        fast = by_unique(p.fast, lambda n: ema(bars.close, n), memo=bars, key=("ema", "close"))
        slow = by_unique(p.slow, lambda n: ema(bars.close, n), memo=bars, key=("ema", "close"))
        return crossover_state(fast, slow)

    def overlays(self, bars: Bars, params: StrategyParams) -> dict[str, Tensor]:
        from torchtrader.indicators.kernels import ema

        assert isinstance(params, self.Params)
        return {f"EMA({n})": ema(bars.close, n) for n in (params.fast, params.slow)}

    def warmup(self, params: StrategyParams) -> int:
        # An EMA remembers its seed: ten periods let a live window converge to the full-history value.
        assert isinstance(params, self.Params)
        return 10 * params.slow
