"""The strategy contract: one class runs in the batched engine, backtrader, sweeps and live bots.

A strategy declares frozen, typed parameters (each with a search range) and one vectorised method,
``positions(bars, params) -> Tensor[combos, time]`` holding the target position in [-1, 1] decided at
each bar's close. Parameters arrive as a ``ParamBatch``: one 1-D tensor per parameter, all of length
``combos`` (batch = 1 for a single backtest or a live bot). The engines own fills: a decision at bar t's
close fills at bar t+1's open.

Rule for authors: ``positions[..., t]`` may use bars[0..t] only. ``torchtrader lookahead`` checks it.

Indicator memo: ``Bars`` carries a bounded, per-object memo (``bars.memo(key, compute)``), so a sweep
that calls ``positions`` once per chunk of combos computes each distinct indicator row once. The usual
way in is ``signals.by_unique(periods, kernel, memo=bars, key=("sma", "close"))``. A key must name
everything the row depends on besides the bars and the parameter value (kernel and input column).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor

# The torch-free half of the contract lives in ``contract`` (so listing strategies needs no torch);
# re-exported here, where strategy code has always imported it from.
from torchtrader.strategies.contract import Search as Search
from torchtrader.strategies.contract import Strategy as Strategy
from torchtrader.strategies.contract import StrategyParams as StrategyParams
from torchtrader.strategies.memo import IndicatorMemo, fingerprint


@dataclass(frozen=True)
class Bars:
    """One symbol's bars as tensors of shape [time] (float64 by default), oldest first.

    ``ts`` holds bar-open times as int64 nanoseconds since the epoch (UTC) in a numpy array, for
    strategies that need calendar logic (multi-timeframe) and for reports.

    Each instance owns an empty indicator memo (not compared, not shown, not pickled): ``slice`` and
    ``to`` return new bars with a fresh memo, so a prefix never reuses values computed on the full
    series (the lookahead check relies on that).
    """

    open: Tensor
    high: Tensor
    low: Tensor
    close: Tensor
    volume: Tensor
    ts: np.ndarray[Any, np.dtype[np.int64]]
    symbol: str = ""
    timeframe: str = "1d"
    _memo: IndicatorMemo = dataclass_field(
        default_factory=IndicatorMemo, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return int(self.close.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.close.device

    @property
    def dtype(self) -> torch.dtype:
        return self.close.dtype

    @property
    def indicator_memo(self) -> IndicatorMemo:
        """This object's memo (budget ``max_bytes``, counters ``hits``/``misses``, ``clear()``)."""
        return self._memo

    def memo(self, key: Hashable, compute: Callable[[], Tensor]) -> Tensor:
        """``compute()`` once per ``key`` for these exact bars; later calls return the same tensor.

        The result is shared: treat it as read-only. ``key`` must identify the computation (kernel,
        input column, parameter value), e.g. ``("sma", "close", 20)``.
        """
        cached = self.memo_lookup(key)
        if cached is None:
            cached = compute()
            self.memo_store(key, cached)
        return cached

    def memo_lookup(self, key: Hashable) -> Tensor | None:
        """The tensor memoised under ``key`` on these bars, or None."""
        return self._memo.get(self._fingerprint(), key)

    def memo_store(self, key: Hashable, value: Tensor) -> None:
        """Memoise ``value`` under ``key`` (least recently used rows go when the budget is spent)."""
        self._memo.put(self._fingerprint(), key, value)

    def _fingerprint(self) -> tuple[object, ...]:
        return fingerprint(self.open, self.high, self.low, self.close, self.volume)

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

    def window(self, start: int, stop: int | None = None) -> Bars:
        """Bars ``start`` up to (excluding) ``stop``: the span a date-ranged backtest trades on."""
        return Bars(
            open=self.open[..., start:stop],
            high=self.high[..., start:stop],
            low=self.low[..., start:stop],
            close=self.close[..., start:stop],
            volume=self.volume[..., start:stop],
            ts=self.ts[start:stop],
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

    def __init__(
        self, values: Mapping[str, Tensor], labels: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        lengths = {int(v.shape[0]) for v in values.values()}
        if len(lengths) > 1:
            raise ValueError(f"parameter tensors differ in length: {sorted(lengths)}")
        self._values = dict(values)
        self.size = lengths.pop() if lengths else 1
        # text parameters (a model reference) cannot be tensors: they ride along, one per combo
        self.labels: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (labels or {}).items()}

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
        labels: dict[str, tuple[str, ...]] = {}
        for name in names:
            column = [getattr(p, name) for p in params]
            if all(isinstance(v, str) for v in column):
                labels[name] = tuple(column)
            elif all(isinstance(v, bool) for v in column):
                values[name] = torch.tensor(column, dtype=torch.bool, device=device)
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in column):
                values[name] = torch.tensor(column, dtype=torch.int64, device=device)
            else:
                values[name] = torch.tensor([float(v) for v in column], dtype=dtype, device=device)
        return cls(values, labels)

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
