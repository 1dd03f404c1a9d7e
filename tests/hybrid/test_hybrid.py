"""Hybrid: flows run here while the work runs elsewhere — the features and backtest fan-outs on a
`dask scheduler` / `dask worker` pair, a Tune search on a `ray start --head` head — and the lake lives
on an object store (moto's S3 server). All on loopback; numbers checked against TA-Lib and against the
same backtest run in-process on a local copy of the bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from tests.hybrid.conftest import NO_AUTH
from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def filled_s3_lake(s3_lake: tuple[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    uri, options = s3_lake
    lake = Lake(uri, options)
    for symbol in ("SPX", "IXIC"):
        lake.upsert_bars(sample_frame(symbol, date(2016, 1, 1), date(2018, 12, 31)))
    return uri, options


def test_features_and_backtests_fan_out_on_a_remote_dask_cluster_over_an_s3_lake(
    filled_s3_lake: tuple[str, dict[str, str]],
    dask_scheduler: str,
    lake_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.backtest import BacktestRequest, DaskOptions, backtest_flow
    from flows.features import FeaturesRequest, features_flow
    from torchtrader.backtest import runner
    from torchtrader.indicators.catalogue import FeatureSet

    uri, options = filled_s3_lake
    monkeypatch.setenv("TORCHTRADER_STORAGE_OPTIONS", json.dumps(options))
    lake = Lake(uri, options)
    feature_set = FeatureSet.of({"function": "SMA", "params": {"timeperiod": 10}})
    summary = features_flow(FeaturesRequest(feature_set=feature_set, lake=uri, dask_address=dask_scheduler))
    assert summary["series"] == 2 and summary["bars_version"] == lake.version("bars")
    features = lake.read_table("features")
    for symbol in ("SPX", "IXIC"):
        close = lake.read_bars(symbol, "1d")["close"].to_numpy()
        got = features.filter(pl.col("symbol") == symbol).sort("ts")["sma_10"].to_numpy()
        np.testing.assert_allclose(got[9:], talib.SMA(close, 10)[9:], rtol=1e-12)

    rows = backtest_flow(
        BacktestRequest(
            symbols=["SPX", "IXIC"],
            strategies=["sma_cross", "ema_cross"],
            lake=uri,
            save=False,
            dask=DaskOptions(address=dask_scheduler),
        )
    )
    assert len(rows) == 4 and not any(r["error"] for r in rows)
    # the same backtest in this process, on a local copy of the same bars
    local = Lake(lake_uri)
    local.upsert_bars(Lake(uri, options).read_bars("SPX", "1d"))
    expected = runner.backtest(local, runner.SeriesRef("SPX"), "sma_cross").metrics
    (remote,) = [r for r in rows if r["symbol"] == "SPX" and r["strategy"] == "sma_cross"]
    assert remote["sharpe"] == pytest.approx(expected.sharpe, rel=1e-9)
    assert remote["total_return"] == pytest.approx(expected.total_return, rel=1e-9)


def test_an_unreachable_scheduler_is_one_line_naming_it(
    filled_s3_lake: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask

    from flows.features import FeaturesRequest, features_flow
    from tests.hybrid.conftest import free_port

    uri, options = filled_s3_lake
    monkeypatch.setenv("TORCHTRADER_STORAGE_OPTIONS", json.dumps(options))
    address = f"tcp://127.0.0.1:{free_port()}"
    # dask's connect timeout bounds the refused-connection retries (30 s unless set): nothing listens
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), pytest.raises(Exception) as raised:
        features_flow(FeaturesRequest(lake=uri, dask_address=address))  # the message is what is specified
    assert address.removeprefix("tcp://") in str(raised.value)


def test_a_tune_flow_runs_its_trials_on_a_ray_head_over_the_s3_lake(
    filled_s3_lake: tuple[str, dict[str, str]], ray_head: str, tmp_path: Path
) -> None:
    uri, options = filled_s3_lake
    script = (
        "import json\n"
        "from flows.tune import TuneRequest, tune_flow\n"
        "if __name__ == '__main__':\n"
        f"    rows = tune_flow(TuneRequest(symbols=['SPX'], strategy='sma_cross', space=['fast=5:15:5',"
        f" 'slow=30:50:20'], search='random', samples=4, seed=1, track=False, lake={uri!r},"
        f" ray_address={ray_head!r}))\n"
        "    print('ROWS=' + json.dumps(rows, default=str))\n"
    )
    env = {
        **NO_AUTH,
        "PYTHONPATH": str(ROOT),
        "TORCHTRADER_STORAGE_OPTIONS": json.dumps(options),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("ROWS=")]
    (row,) = json.loads(line.removeprefix("ROWS="))
    assert row["symbol"] == "SPX" and row["n_evaluations"] == 4
    assert set(row["best_params"]) == {"fast", "slow"}
    assert row["best_params"]["fast"] in (5, 10, 15) and row["best_params"]["slow"] in (30, 50)
    assert os.environ.get("RAY_ADDRESS") is None  # nothing leaked into this process
