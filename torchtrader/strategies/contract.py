"""The torch-free half of the strategy contract: parameters (``StrategyParams``, ``Search``) and the
``Strategy`` base class.

Kept apart from ``base`` (``Bars``, ``ParamBatch``: tensors) so that listing and describing strategies
(``torchtrader strategy list``, ``--help``) never imports torch. Built-in strategies import their
kernels inside ``positions`` for the same reason. ``torchtrader.strategies.base`` re-exports all three.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from torch import Tensor

    from torchtrader.strategies.base import Bars, ParamBatch


@dataclass(frozen=True)
class Search:
    """Search range of one parameter: inclusive bounds, optional grid step, log scale for sweeps."""

    low: float
    high: float
    step: float | None = None
    log: bool = False


class StrategyParams(BaseModel):
    """Base of every strategy's ``Params``: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def search_space(cls) -> dict[str, Search]:
        """The ``Search`` annotation of each parameter that has one."""
        space: dict[str, Search] = {}
        for name, field in cls.model_fields.items():
            for meta in field.metadata:
                if isinstance(meta, Search):
                    space[name] = meta
        return space


class Strategy(ABC):
    """Base class of every strategy. Subclasses set ``name``, ``Params`` and implement ``positions``."""

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]
    description: ClassVar[str] = ""

    @abstractmethod
    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        """Target position in [-1, 1] per combo and bar: shape [p.size, len(bars)], bars' dtype/device."""

    def warmup(self, params: StrategyParams) -> int:
        """Bars needed before the first meaningful position (a live bot fetches at least this many)."""
        return 0

    def overlays(self, bars: Bars, params: StrategyParams) -> dict[str, Tensor]:
        """The indicators a chart draws on the price scale for one parameter set: label → [time]
        values (NaN in warm-up). Optional: strategies without price-scale indicators draw none."""
        return {}


def describe_exception(error: BaseException) -> str:
    """``Type: message`` on one line (how a strategy's error is quoted in a StrategyError)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
