"""The feature fan-out on a LocalCluster: every series of a pinned bars version, tagged with it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import talib

from torchtrader.errors import LakeError
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.indicators.fanout import SeriesKey, fan_out_features
from torchtrader.lake import Lake
from torchtrader.lake.schema import to_canonical_bars


def _bars(sp500: object, symbol: str, scale: float) -> pl.DataFrame:
    n = 250
    frame = pl.DataFrame(
        {
            "ts": pl.Series(np.arange(n, dtype=np.int64) * 86_400_000_000).cast(pl.Datetime("us", "UTC")),
            **{c: getattr(sp500, c)[:n] * scale for c in ("open", "high", "low", "close")},
            "volume": sp500.volume[:n],  # type: ignore[attr-defined]
        }
    )
    return to_canonical_bars(frame, source="sample", symbol=symbol, timeframe="1d")


def test_fan_out_computes_every_series_at_the_pinned_version(lake_uri: str, sp500: object) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(pl.concat([_bars(sp500, "AAA", 1.0), _bars(sp500, "BBB", 3.0)]))
    version = lake.version("bars")
    assert version is not None
    # a later write must not leak into features computed at the pinned version
    lake.upsert_bars(_bars(sp500, "AAA", 2.0))
    keys = [SeriesKey("sample", "AAA", "1d"), SeriesKey("sample", "BBB", "1d")]
    feature_set = FeatureSet.of({"function": "RSI", "params": {"timeperiod": 10}})

    frame = fan_out_features(lake_uri, keys, feature_set, version, workers=1)

    assert frame.height == 500
    assert frame["bars_version"].unique().to_list() == [version]
    assert frame.columns == ["source", "symbol", "timeframe", "ts", "rsi_10", "bars_version"]
    for symbol, scale in (("AAA", 1.0), ("BBB", 3.0)):
        expected = talib.RSI(sp500.close[:250] * scale, 10)  # type: ignore[attr-defined]
        got = frame.filter(pl.col("symbol") == symbol)["rsi_10"].to_numpy()
        np.testing.assert_allclose(got[10:], expected[10:], rtol=1e-12)
        assert np.isnan(got[:10]).all()


def test_fan_out_of_nothing_is_a_lake_error(lake_uri: str) -> None:
    with pytest.raises(LakeError, match="no series"):
        fan_out_features(lake_uri, [], FeatureSet.of({"function": "SMA"}), 0)


def test_a_busy_port_8787_does_not_stop_the_local_cluster(lake_uri: str, sp500: object) -> None:
    """Another cluster (or anything) on dask's default HTTP port: ours still starts, silently."""
    import socket

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by something else: the condition under test holds either way
    try:
        Lake(lake_uri).upsert_bars(_bars(sp500, "AAA", 1.0))
        version = Lake(lake_uri).version("bars")
        assert version is not None
        feature_set = FeatureSet.of({"function": "SMA", "params": {"timeperiod": 5}})
        frame = fan_out_features(
            lake_uri, [SeriesKey("sample", "AAA", "1d")], feature_set, version, workers=1
        )
    finally:
        holder.close()
    expected = talib.SMA(sp500.close[:250], 5)  # type: ignore[attr-defined]
    np.testing.assert_allclose(frame["sma_5"].to_numpy()[4:], expected[4:], rtol=1e-12)
