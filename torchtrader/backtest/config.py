"""Backtest configuration and the fill semantics that BOTH engines (batched torch, backtrader) obey.

Fill rules (table-tested in tests/backtest; the backtrader adapter is the oracle for the torch engine):

1. Decisions: ``positions[t]`` is the target decided at bar t's close. It is acted on at bar t+1's
   open. The last bar's decision is never acted on.
2. Changes: whenever the target differs from the position held, the held position (if any) is closed
   completely and, if the new target is non-zero, a new one is opened at the same open. Each close and
   each open is a separate fill; a trade is one open-to-close round trip.
3. Size: units = target × ``size`` × equity / fill price, where equity is cash + held units × the fill
   bar's open *after* closing the previous position. Fractional units are allowed; by default fees are
   not subtracted from the sizing, so cash can dip slightly below zero by the fee. With
   ``fees_in_sizing`` the fee is inside the sizing: units = target × ``size`` × equity /
   (fill price × (1 + ``fee``)), so an entry's cost plus its fee is exactly target × size × equity and
   a full-size buy never overdraws cash (what a live broker's free balance allows; the paper broker
   sizes this way). Shorts are sized by the same formula.
4. Prices: buys fill at open × (1 + slippage_bps / 1e4), sells at open × (1 − slippage_bps / 1e4).
5. Fees: ``fee`` × |units| × fill price, charged on every fill (both sides).
6. Stops (optional, fractions of the entry fill price): a long's stop-loss sits at
   entry × (1 − stop_loss), its take-profit at entry × (1 + take_profit); mirrored for shorts. They are
   checked from the entry bar on, against each bar's low/high. A bar that opens beyond the level fills
   at its open (gap); otherwise at the level exactly. If both levels lie inside one bar, the stop-loss
   wins (pessimistic) — even when the bar opened beyond the take-profit, since the path inside a bar
   is unknown (backtrader, processing the stop order first, does the same). A level is touched when
   low <= level (or high >= level): equality counts. Slippage and fees apply to stop fills as to any
   other. After a stop exit the position stays flat until the strategy's target changes again: rule 2
   compares consecutive decisions (positions[t] vs positions[t-1], with a flat decision before bar 0),
   not the decision with the position actually held.
7. End of data: a position still open after the last bar is closed at the last close (with slippage
   and fees) and its exit time is the last bar's time.
8. Equity curve: cash + units × close, at every bar's close; the last point is taken after the
   end-of-data close of rule 7, so it equals the final equity.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class BacktestConfig(BaseModel):
    """Costs, sizing and numerics of one backtest run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_cash: Annotated[float, Field(gt=0)] = 10_000.0
    fee: Annotated[float, Field(ge=0, lt=1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 0.0
    size: Annotated[float, Field(gt=0, le=1)] = 1.0
    stop_loss: Annotated[float, Field(gt=0, lt=1)] | None = None
    take_profit: Annotated[float, Field(gt=0)] | None = None
    fees_in_sizing: bool = False
    dtype: Literal["float64", "float32"] = "float64"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
