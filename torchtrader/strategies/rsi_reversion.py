"""Built-in ``rsi_reversion``: buy oversold, sell once overbought (long only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, model_validator

from torchtrader.strategies.contract import Search, Strategy, StrategyParams

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


class RsiReversion(Strategy):
    """Mean reversion on Wilder's RSI of the close (long only).

    Rules, evaluated at each bar's close:

    * ``r = RSI(close, period)`` (TA-Lib RSI, NaN for the first ``period`` bars).
    * Enter: ``r < lower`` on bar t → position 1 (a level, not a cross: any bar below ``lower``).
    * Exit: ``r > upper`` on bar t → position 0.
    * Otherwise the last position is held; 0 before the first entry and while RSI is NaN.
    * Parameters: ``0 < lower < upper < 100``.
    """

    name = "rsi_reversion"
    description = "Long when RSI(period) < lower, flat when RSI > upper."

    class Params(StrategyParams):
        period: Annotated[int, Field(ge=2), Search(2, 50)] = 14
        lower: Annotated[float, Field(gt=0, lt=100), Search(10, 45)] = 30.0
        upper: Annotated[float, Field(gt=0, lt=100), Search(55, 90)] = 70.0

        @model_validator(mode="after")
        def _lower_below_upper(self) -> Self:
            if self.lower >= self.upper:
                raise ValueError(f"lower ({self.lower}) must be < upper ({self.upper})")
            return self

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        # Imported here so listing and describing strategies never loads torch.
        from torchtrader.indicators.kernels import rsi
        from torchtrader.strategies.signals import by_unique, events_to_state

        strength = by_unique(p.period, lambda n: rsi(bars.close, n), memo=bars, key=("rsi", "close"))
        lower = p.lower.to(strength.dtype)[:, None]
        upper = p.upper.to(strength.dtype)[:, None]
        return events_to_state(strength < lower, strength > upper, dtype=bars.dtype)

    def warmup(self, params: StrategyParams) -> int:
        # Wilder smoothing remembers its seed: ten periods let a live window converge.
        assert isinstance(params, self.Params)
        return 10 * params.period
