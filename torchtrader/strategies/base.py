"""The strategy contract: one class runs in the batched engine, backtrader, sweeps and live bots.

A strategy declares frozen, typed parameters (each with a search range) and one vectorised method,
``positions(bars, params) -> Tensor[combos, time]`` holding the target position in [-1, 1] decided at
each bar's close. Parameters arrive as a ``ParamBatch``: one 1-D tensor per parameter, all of length
``combos`` (batch = 1 for a single backtest or a live bot). The engines own fills: a decision at bar t's
close fills at bar t+1's open.

Rule for authors: ``positions[..., t]`` may use bars[0..t] only. ``torchtrader lookahead`` checks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor


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


@dataclass(frozen=True)
class Bars:
    """One symbol's bars as tensors of shape [time] (float64 by default), oldest first.

    ``ts`` holds bar-open times as int64 nanoseconds since the epoch (UTC) in a numpy array, for
    strategies that need calendar logic (multi-timeframe) and for reports.
    """

    open: Tensor
    high: Tensor
    low: Tensor
    close: Tensor
    volume: Tensor
    ts: np.ndarray[Any, np.dtype[np.int64]]
    symbol: str = ""
    timeframe: str = "1d"

    def __len__(self) -> int:
        return int(self.close.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.close.device

    @property
    def dtype(self) -> torch.dtype:
        return self.close.dtype

    @classmethod
    def from_frame(
        cls,
        frame: pl.DataFrame,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> Bars:
        """Bars of one series from a canonical bars frame (lake read), sorted by ``ts``."""
        frame = frame.sort("ts")
        symbols = frame["symbol"].unique().to_list() if "symbol" in frame.columns else [""]
        timeframes = frame["timeframe"].unique().to_list() if "timeframe" in frame.columns else ["1d"]
        if len(symbols) > 1 or len(timeframes) > 1:
            raise ValueError(f"frame holds several series: {symbols} × {timeframes}")

        def column(name: str) -> Tensor:
            return torch.from_numpy(frame[name].to_numpy().astype(np.float64)).to(device=device, dtype=dtype)

        ts = frame["ts"].dt.epoch("ns").to_numpy().astype(np.int64)
        return cls(
            open=column("open"),
            high=column("high"),
            low=column("low"),
            close=column("close"),
            volume=column("volume"),
            ts=ts,
            symbol=str(symbols[0]) if symbols else "",
            timeframe=str(timeframes[0]) if timeframes else "1d",
        )

    def slice(self, stop: int) -> Bars:
        """The first ``stop`` bars (a prefix), as the strategy would have seen them live."""
        return Bars(
            open=self.open[..., :stop],
            high=self.high[..., :stop],
            low=self.low[..., :stop],
            close=self.close[..., :stop],
            volume=self.volume[..., :stop],
            ts=self.ts[:stop],
            symbol=self.symbol,
            timeframe=self.timeframe,
        )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Bars:
        def move(t: Tensor) -> Tensor:
            return t.to(device=device, dtype=dtype)

        return Bars(
            open=move(self.open),
            high=move(self.high),
            low=move(self.low),
            close=move(self.close),
            volume=move(self.volume),
            ts=self.ts,
            symbol=self.symbol,
            timeframe=self.timeframe,
        )


class ParamBatch(Mapping[str, Tensor]):
    """Parameter combinations as named 1-D tensors of equal length; ``p.fast`` reads one."""

    def __init__(self, values: Mapping[str, Tensor]) -> None:
        lengths = {int(v.shape[0]) for v in values.values()}
        if len(lengths) > 1:
            raise ValueError(f"parameter tensors differ in length: {sorted(lengths)}")
        self._values = dict(values)
        self.size = lengths.pop() if lengths else 1

    @classmethod
    def from_params(
        cls,
        params: Sequence[StrategyParams],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> ParamBatch:
        """Stack parameter objects (all of one class) into a batch; ints stay int64, bools bool."""
        if not params:
            raise ValueError("no parameter combinations given")
        names = list(type(params[0]).model_fields)
        values: dict[str, Tensor] = {}
        for name in names:
            column = [getattr(p, name) for p in params]
            if all(isinstance(v, bool) for v in column):
                values[name] = torch.tensor(column, dtype=torch.bool, device=device)
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in column):
                values[name] = torch.tensor(column, dtype=torch.int64, device=device)
            else:
                values[name] = torch.tensor([float(v) for v in column], dtype=dtype, device=device)
        return cls(values)

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self.__dict__["_values"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Tensor:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


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
