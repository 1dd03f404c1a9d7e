"""Leakage-proof datasets: windows of ``lookback`` bars of features, labels strictly after them.

One sample is the window of feature rows ``[end - lookback + 1, end]`` and the label of bars
``(end, end + horizon]``: the forward log return ``log(close[end + horizon] / close[end])`` (target
``return``) or whether it is positive (target ``direction``). Samples are split in time order into
train / validation / test, and ``purge = lookback + horizon`` samples are dropped between two splits,
so no window or label of one split touches a bar that a window or label of the next split uses.

Features come from a ``FeatureSet`` (TA-Lib catalogue, code or TOML) or from any callable that maps
a bars frame to a frame of float columns. Either way the feature rows are checked for causality
before use: features recomputed on prefixes of the bars must equal the full-series rows, so a feature
that peeks at later bars is refused (``LeakageError``). The leading warm-up rows (nulls) are dropped;
a NaN after the warm-up is a ``DataError`` naming the column and the bar.

Everything stays in tensors: windows are ``unfold`` views gathered by index, never Python loops
over samples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
from torch import Tensor

from torchtrader.errors import DataError
from torchtrader.indicators.catalogue import FeatureSet, compute_features

logger = logging.getLogger(__name__)

Target = Literal["direction", "return"]
TARGETS: tuple[Target, ...] = ("direction", "return")
SPLITS = ("train", "val", "test")
FeatureFn = Callable[[pl.DataFrame], pl.DataFrame]
MIN_SPLIT_SAMPLES = 16
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
CAUSALITY_PREFIXES = 6
CAUSALITY_TOLERANCE = 1e-9

# Stationary by construction (returns, oscillators, volatility as a fraction of price): scaled by
# the train split's mean and deviation they mean the same thing in 1999 and in 2018.
DEFAULT_FEATURES = FeatureSet.of(
    {"function": "ROCP", "params": {"timeperiod": 1}},
    {"function": "ROCP", "params": {"timeperiod": 5}},
    {"function": "ROCP", "params": {"timeperiod": 20}},
    {"function": "RSI", "params": {"timeperiod": 14}},
    {"function": "NATR", "params": {"timeperiod": 14}},
)


class LeakageError(DataError):
    """Features or labels that use bars after the decision bar."""


def _epoch_ns(frame: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
    return frame["ts"].dt.epoch("ns").to_numpy().astype(np.int64)


def _when(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat()


def feature_frame(bars: pl.DataFrame, features: FeatureSet | FeatureFn) -> pl.DataFrame:
    """Feature columns (plus ``ts``) of one series of bars sorted by time."""
    bars = bars.sort("ts")
    if isinstance(features, FeatureSet):
        frame = compute_features(
            bars.drop([c for c in ("source", "symbol", "timeframe") if c in bars.columns]), features
        )
    else:
        frame = features(bars)
        if frame.height != bars.height:
            raise DataError(f"feature function returned {frame.height} rows for {bars.height} bars")
        if "ts" not in frame.columns:
            frame = frame.with_columns(bars["ts"])
    columns = [c for c in frame.columns if c != "ts"]
    if not columns:
        raise DataError("the feature set produced no columns")
    return frame.select("ts", *columns)


def _matrix(frame: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    columns = [c for c in frame.columns if c != "ts"]
    return np.column_stack(
        [frame[c].cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in columns]
    ).astype(np.float64)


def check_causal(
    bars: pl.DataFrame,
    features: FeatureSet | FeatureFn,
    *,
    n_prefixes: int = CAUSALITY_PREFIXES,
    full: pl.DataFrame | None = None,
) -> None:
    """Raise ``LeakageError`` when features recomputed on a prefix of the bars differ from the rows
    computed on all of them (the feature at bar t then depends on bars after t)."""
    bars = bars.sort("ts")
    n = bars.height
    full = full if full is not None else feature_frame(bars, features)
    reference = _matrix(full)
    columns = [c for c in full.columns if c != "ts"]
    lengths = sorted({int(x) for x in np.linspace(max(2, n // 4), n - 1, n_prefixes)} - {n})
    for length in lengths:
        part = _matrix(feature_frame(bars.head(length), features))
        head = reference[:length]
        same = np.isclose(part, head, rtol=0.0, atol=CAUSALITY_TOLERANCE, equal_nan=True)
        if not same.all():
            row, col = (int(i) for i in np.argwhere(~same)[0])
            raise LeakageError(
                f"feature '{columns[col]}' uses future bars: at {_when(int(_epoch_ns(bars)[row]))} it is "
                f"{part[row, col]} on the first {length} bars but {head[row, col]} on all {n}; "
                "features may only use bars up to the decision bar"
            )


@dataclass(frozen=True)
class Windowed:
    """Feature rows, labels and time-ordered splits of one series (all tensors on the CPU)."""

    features: Tensor  # [rows, F] float32, raw (the model normalises with train statistics)
    ts: np.ndarray[Any, np.dtype[np.int64]]  # [rows] bar times, ns UTC
    ends: Tensor  # [samples] int64 row index of each window's last bar
    labels: Tensor  # [samples] float32: 0/1 direction or forward log return
    forward_returns: Tensor  # [samples] float32 forward log return (the strategy's view)
    splits: dict[str, tuple[int, int]]  # split -> [first, stop) sample indices
    columns: tuple[str, ...]
    lookback: int
    horizon: int
    target: Target

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def purge(self) -> int:
        return self.lookback + self.horizon

    def sample_range(self, split: str) -> slice:
        first, stop = self.splits[split]
        return slice(first, stop)

    def windows(self, split: str) -> Tensor:
        """[samples, lookback, F] windows of one split (a gather over an ``unfold`` view)."""
        view = self.features.unfold(0, self.lookback, 1).transpose(1, 2)  # [rows - L + 1, L, F]
        return view[self.ends[self.sample_range(split)] - (self.lookback - 1)].contiguous()

    def split_labels(self, split: str) -> Tensor:
        return self.labels[self.sample_range(split)]

    def bar_span(self, split: str) -> tuple[int, int]:
        """First and last row any window or label of ``split`` touches (for purge checks)."""
        ends = self.ends[self.sample_range(split)]
        return int(ends[0]) - self.lookback + 1, int(ends[-1]) + self.horizon

    def time_span(self, split: str) -> tuple[str, str]:
        """ISO times of the first and last decision bar of ``split``."""
        ends = self.ends[self.sample_range(split)]
        return _when(int(self.ts[int(ends[0])])), _when(int(self.ts[int(ends[-1])]))

    def train_rows(self) -> Tensor:
        """The feature rows the train windows cover: what normalisation may be fitted on."""
        first, last = self.bar_span("train")
        return self.features[first : last - self.horizon + 1]


def build_windows(
    bars: pl.DataFrame,
    *,
    lookback: int,
    horizon: int,
    target: Target = "direction",
    features: FeatureSet | FeatureFn = DEFAULT_FEATURES,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
    label: str = "series",
    check_causality: bool = True,
) -> Windowed:
    """The windowed dataset of one series of bars (see the module docstring for the rules)."""
    if lookback < 1 or horizon < 1:
        raise DataError(f"lookback ({lookback}) and horizon ({horizon}) must be at least 1")
    if target not in TARGETS:
        raise DataError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")
    bars = bars.sort("ts")
    frame = feature_frame(bars, features)
    values = _matrix(frame)
    columns = tuple(c for c in frame.columns if c != "ts")
    finite = np.isfinite(values).all(axis=1)
    first = int(np.argmax(finite)) if finite.any() else len(values)
    gap = lookback + horizon
    n_samples = len(values) - first - lookback - horizon + 1
    needed = lookback + horizon - 1 + 2 * gap + 3 * MIN_SPLIT_SAMPLES
    splits = _split(n_samples, gap, fractions)
    if splits is None:
        raise DataError(
            f"{label}: too few bars: {bars.height} bars ({first} of them feature warm-up) give "
            f"{max(n_samples, 0)} samples; lookback {lookback} + horizon {horizon} with purge gaps of "
            f"{gap} need at least {first + needed} bars: ingest more or lower --lookback/--horizon"
        )
    if check_causality:  # before the NaN check: a peek at the future often leaves trailing NaNs
        check_causal(bars, features, full=frame)
    broken = np.flatnonzero(~finite[first:])
    if broken.size:
        row = first + int(broken[0])
        col = int(np.flatnonzero(~np.isfinite(values[row]))[0])
        raise DataError(
            f"{label}: feature '{columns[col]}' is NaN at {_when(int(_epoch_ns(bars)[row]))} after its "
            f"{first}-bar warm-up: fix the bars or drop the feature"
        )
    close = bars["close"].cast(pl.Float64).to_numpy()[first:]
    ts = _epoch_ns(bars)[first:]
    ends = torch.arange(lookback - 1, lookback - 1 + n_samples, dtype=torch.int64)
    log_close = torch.from_numpy(np.log(close))
    forward = (log_close[ends + horizon] - log_close[ends]).to(torch.float32)
    labels = (forward > 0).to(torch.float32) if target == "direction" else forward
    return Windowed(
        features=torch.from_numpy(values[first:]).to(torch.float32),
        ts=ts,
        ends=ends,
        labels=labels,
        forward_returns=forward,
        splits=splits,
        columns=columns,
        lookback=lookback,
        horizon=horizon,
        target=target,
    )


def _split(n: int, gap: int, fractions: tuple[float, float, float]) -> dict[str, tuple[int, int]] | None:
    usable = n - 2 * gap
    if usable < 3 * MIN_SPLIT_SAMPLES:
        return None
    total = sum(fractions)
    n_val = max(MIN_SPLIT_SAMPLES, int(usable * fractions[1] / total))
    n_test = max(MIN_SPLIT_SAMPLES, int(usable * fractions[2] / total))
    n_train = usable - n_val - n_test
    if n_train < MIN_SPLIT_SAMPLES:
        return None
    train = (0, n_train)
    val = (n_train + gap, n_train + gap + n_val)
    test = (val[1] + gap, val[1] + gap + n_test)
    return {"train": train, "val": val, "test": test}


def normaliser_stats(data: Windowed) -> tuple[Tensor, Tensor]:
    """Per-feature mean and standard deviation of the train rows only."""
    rows = data.train_rows().to(torch.float64)
    mean = rows.mean(dim=0)
    std = rows.std(dim=0, unbiased=False).clamp_min(1e-8)
    return mean.to(torch.float32), std.to(torch.float32)
