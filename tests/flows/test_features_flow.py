"""The features flow against a real Dask scheduler and worker (separate processes on loopback).

Bars go into a fresh lake; the flow computes a feature set for every series on the external Dask
cluster, upserts the ``features`` table, and tags every row with the bars version it read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from flows.features import FeaturesRequest, features_flow
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.lake import Lake
from torchtrader.lake.schema import to_canonical_bars
from torchtrader.testing.net import free_port

pytestmark = pytest.mark.flows


@pytest.fixture(scope="module")
def dask_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `dask scheduler` and one `dask worker` process, as a user would start them."""
    from distributed import Client

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    address = f"tcp://127.0.0.1:{free_port()}"
    workdir = tmp_path_factory.mktemp("dask")
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    worker = subprocess.Popen(
        [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(1, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def _bars(symbol: str, scale: float) -> pl.DataFrame:
    from arch.data import sp500

    frame = pl.from_pandas(sp500.load().reset_index()).head(300)
    frame = frame.select(
        pl.col("Date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        *(pl.col(c.capitalize()).mul(scale).alias(c) for c in ("open", "high", "low", "close")),
        pl.col("Volume").cast(pl.Float64).alias("volume"),
    )
    return to_canonical_bars(frame, source="sample", symbol=symbol, timeframe="1d")


def test_features_flow_runs_on_an_external_dask_scheduler(
    prefect_harness: None, lake_uri: str, dask_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(pl.concat([_bars("SPX", 1.0), _bars("HALF", 0.5)]))
    bars_version = lake.version("bars")
    feature_set = FeatureSet.of({"function": "SMA", "params": {"timeperiod": 5}}, {"function": "MACD"})

    summary = features_flow(
        FeaturesRequest(feature_set=feature_set, lake=lake_uri, dask_address=dask_address)
    )

    assert summary["series"] == 2
    assert summary["rows"] == 600
    assert summary["bars_version"] == bars_version
    features = lake.read_table("features").sort("symbol", "ts")
    assert features.height == 600
    assert set(features["bars_version"].unique().to_list()) == {bars_version}
    assert {"sma_5", "macd_12_26_9_macdsignal"} <= set(features.columns)
    for symbol in ("SPX", "HALF"):
        close = lake.read_bars(symbol, "1d")["close"].to_numpy()
        got = features.filter(pl.col("symbol") == symbol)["sma_5"].to_numpy()
        expected = talib.SMA(close, 5)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got[4:], expected[4:], rtol=1e-12)

    # the scheduler address can come from the environment; a rerun upserts, it adds nothing twice
    monkeypatch.setenv("TORCHTRADER_DASK_ADDRESS", dask_address)
    again = features_flow(FeaturesRequest(feature_set=feature_set, lake=lake_uri))
    assert again["rows"] == 600
    assert lake.read_table("features").height == 600
