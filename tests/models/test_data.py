"""Datasets: windows, labels strictly after the window, purge gaps, train-only normalisation, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from torchtrader.errors import DataError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.models.data import (
    DEFAULT_FEATURES,
    SPLITS,
    LeakageError,
    build_windows,
    check_causal,
    feature_frame,
    normaliser_stats,
)

from .conftest import ar_bars

ONE_RETURN = FeatureSet.of({"function": "ROCP", "params": {"timeperiod": 1}})


def test_windows_and_labels_match_a_hand_loop(spx_small: pl.DataFrame) -> None:
    lookback, horizon = 10, 3
    data = build_windows(spx_small, lookback=lookback, horizon=horizon, target="return")
    features = feature_frame(spx_small, DEFAULT_FEATURES)
    values = features.drop("ts").to_numpy()
    first = int(np.argmax(np.isfinite(values).all(axis=1)))
    close = spx_small.sort("ts")["close"].to_numpy()
    windows = data.windows("val")
    ends = data.ends[data.sample_range("val")].numpy()
    for k in (0, len(ends) // 2, len(ends) - 1):  # three samples worked by hand
        bar = first + int(ends[k])  # row in the original bars
        np.testing.assert_allclose(windows[k].numpy(), values[bar - lookback + 1 : bar + 1], rtol=1e-6)
        expected = np.log(close[bar + horizon] / close[bar])
        assert data.labels[data.sample_range("val")][k].item() == pytest.approx(expected, rel=1e-5)


def test_direction_labels_are_the_sign_of_the_forward_return(spx_small: pl.DataFrame) -> None:
    up = build_windows(spx_small, lookback=8, horizon=2, target="direction")
    ret = build_windows(spx_small, lookback=8, horizon=2, target="return")
    assert torch.equal(up.labels, (ret.labels > 0).float())


def test_labels_use_only_bars_after_the_window(spx_small: pl.DataFrame) -> None:
    """Changing every bar after a sample's window end leaves its window unchanged, and changing the
    bars up to and including the end (but not after) leaves its label unchanged."""
    data = build_windows(spx_small, lookback=8, horizon=2, target="return", check_causality=False)
    k = data.splits["test"][0] + 5
    end_row = int(data.ends[k])
    first = spx_small.height - len(data.features)
    bar = first + end_row
    future_changed = spx_small.with_columns(
        pl.when(pl.int_range(pl.len()) > bar)
        .then(pl.col("close") * 1.5)
        .otherwise(pl.col("close"))
        .alias("close")
    )
    other = build_windows(future_changed, lookback=8, horizon=2, target="return", check_causality=False)
    lo = end_row - 7
    assert torch.equal(other.features[lo : end_row + 1], data.features[lo : end_row + 1])
    assert other.labels[k] != data.labels[k]  # the label sees the future, as it must


@given(
    lookback=st.integers(2, 40),
    horizon=st.integers(1, 10),
    n=st.integers(250, 700),
)
def test_purge_gap_separates_every_split(lookback: int, horizon: int, n: int) -> None:
    frame = ar_bars(n, seed=1)
    try:
        data = build_windows(frame, lookback=lookback, horizon=horizon, features=ONE_RETURN)
    except DataError as error:
        if "too few bars" not in str(error):
            raise
        return
    for earlier, later in itertools.pairwise(SPLITS):
        last_touched = data.bar_span(earlier)[1]
        first_touched = data.bar_span(later)[0]
        assert first_touched > last_touched  # no window or label straddles the boundary
        assert data.splits[later][0] - data.splits[earlier][1] >= lookback + horizon


def test_normalisation_is_fitted_on_train_rows_only(spx_small: pl.DataFrame) -> None:
    data = build_windows(spx_small, lookback=10, horizon=1)
    mean, std = normaliser_stats(data)
    first, last = data.bar_span("train")
    rows = data.features[first:last].double()  # the label bar after the last window is excluded
    np.testing.assert_allclose(mean.numpy(), rows.mean(0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), rows.std(0, unbiased=False).numpy(), rtol=1e-5)
    # doubling every bar after the train split leaves the statistics untouched
    cut = spx_small.height - len(data.features) + last
    shifted = spx_small.with_columns(
        pl.when(pl.int_range(pl.len()) > cut).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    )
    mean2, std2 = normaliser_stats(build_windows(shifted, lookback=10, horizon=1, check_causality=False))
    assert torch.equal(mean, mean2) and torch.equal(std, std2)


def test_a_feature_built_from_the_future_is_refused(spx_small: pl.DataFrame) -> None:
    def tomorrow(bars: pl.DataFrame) -> pl.DataFrame:
        return bars.select("ts", (pl.col("close").shift(-1) / pl.col("close") - 1).alias("peek"))

    with pytest.raises(LeakageError, match="'peek' uses future bars"):
        build_windows(spx_small, lookback=8, horizon=1, features=tomorrow)

    # a centred moving average leaks only half a window: caught too
    def centred(bars: pl.DataFrame) -> pl.DataFrame:
        return bars.select("ts", pl.col("close").rolling_mean(5, center=True).alias("centred"))

    with pytest.raises(LeakageError, match="centred"):
        check_causal(spx_small, centred)
    check_causal(spx_small, DEFAULT_FEATURES)  # the TA-Lib catalogue passes


def test_too_few_bars_names_the_need(spx_small: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"too few bars: 100 bars .* need at least \d+ bars"):
        build_windows(spx_small.head(100), lookback=20, horizon=1)


def test_nan_after_warm_up_is_refused() -> None:
    frame = ar_bars(300).with_columns(
        pl.when(pl.int_range(pl.len()).is_between(150, 160))
        .then(0.0)
        .otherwise(pl.col("volume"))
        .alias("volume")
    )
    vwma = FeatureSet.of({"function": "VWMA", "params": {"timeperiod": 5}})
    with pytest.raises(
        DataError, match=r"feature 'vwma_5' is NaN at 2020-06-03T00:00:00\+00:00 after its 4-bar warm-up"
    ):
        build_windows(frame, lookback=8, horizon=1, features=vwma)
