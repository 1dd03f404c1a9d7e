"""The backtest and sweep flows on a real Prefect API: Dask fan-out, persistence, ranked artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import arch.data.nasdaq
import arch.data.sp500
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.backtest import BacktestRequest, DaskOptions, backtest_flow
from flows.sweep import SweepRequest, sweep_flow
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.store import list_runs, load_result
from torchtrader.errors import TorchTraderError
from torchtrader.lake import Lake
from torchtrader.lake.schema import to_canonical_bars

pytestmark = pytest.mark.flows

IN_PROCESS = DaskOptions(workers=1, threads_per_worker=2, processes=False)


def artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    newest = max(artifacts, key=lambda a: a.created)  # type: ignore[arg-type,return-value]
    data = newest.data
    return json.loads(data) if isinstance(data, str) and newest.type == "table" else data


def sample(module: Any, symbol: str) -> pl.DataFrame:
    raw = module.load().loc["2017-01-01":"2018-12-31"]
    frame = pl.from_pandas(raw.reset_index()).rename(
        {"Date": "ts", "Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}
    )
    frame = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    return to_canonical_bars(frame, source="sample", symbol=symbol, timeframe="1d")


@pytest.fixture
def filled_lake(lake_uri: str) -> str:
    lake = Lake(lake_uri)
    lake.upsert_bars(sample(arch.data.sp500, "SPX"))
    lake.upsert_bars(sample(arch.data.nasdaq, "IXIC"))
    return lake_uri


def test_fan_out_persists_every_result_and_ranks_them(
    prefect_harness: None, filled_lake: str, tmp_path: Path
) -> None:
    request = BacktestRequest(
        symbols=["SPX", "IXIC"],
        strategies=["sma_cross", "rsi_reversion"],
        params={"sma_cross": [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 50}]},
        config=BacktestConfig(fee=0.001, slippage_bps=2),
        tearsheet_dir=str(tmp_path / "sheets"),
        artifact_key="backtest-test",
        lake=filled_lake,
        dask=IN_PROCESS,
    )
    rows = backtest_flow(request)

    assert len(rows) == 2 * (2 + 1)  # symbols × (sma_cross's two sets + rsi_reversion's defaults)
    assert not any(row["error"] for row in rows)
    assert [row["rank"] for row in rows] == list(range(1, 7))
    sharpes = [row["sharpe"] for row in rows if row["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True)
    lake = Lake(filled_lake)
    assert set(list_runs(lake)["run_id"].to_list()) == {row["run_id"] for row in rows}
    best = load_result(lake, rows[0]["run_id"])
    assert (best.strategy, best.symbol) == (rows[0]["strategy"], rows[0]["symbol"])
    assert best.lake_version == lake.version("bars")
    assert best.final_equity == pytest.approx(rows[0]["final_equity"])
    assert len(list((tmp_path / "sheets").glob("*.html"))) == 6
    assert all(Path(row["tearsheet"]).exists() for row in rows)

    table = artifact("backtest-test")
    assert [(r["strategy"], r["symbol"], r["rank"]) for r in table] == [
        (r["strategy"], r["symbol"], r["rank"]) for r in rows
    ]
    report = artifact("backtest-test-report")
    assert "ranked by **sharpe**" in report and rows[0]["run_id"] in report
    assert Path(rows[0]["tearsheet"]).as_uri() in report


def test_a_failing_backtest_becomes_an_error_row(prefect_harness: None, filled_lake: str) -> None:
    request = BacktestRequest(
        symbols=["SPX", "NOPE"],
        strategies=["ema_cross"],
        save=False,
        artifact_key="backtest-errors",
        lake=filled_lake,
        dask=IN_PROCESS,
    )
    rows = backtest_flow(request)
    by_symbol = {row["symbol"]: row for row in rows}
    assert by_symbol["SPX"]["error"] == "" and by_symbol["SPX"]["sharpe"] is not None
    assert "no 1d bars for 'NOPE'" in by_symbol["NOPE"]["error"]
    assert rows[-1]["symbol"] == "NOPE"  # failures rank last
    assert "backtest_runs" not in Lake(filled_lake).tables()
    assert "## Failures" in artifact("backtest-errors-report")


def test_backtest_flow_refuses_an_empty_lake(prefect_harness: None, lake_uri: str) -> None:
    with pytest.raises(TorchTraderError, match="holds no bars yet"):
        backtest_flow(BacktestRequest(lake=lake_uri, dask=IN_PROCESS))


def test_sweep_flow_ranks_the_grid_and_saves_the_best(prefect_harness: None, filled_lake: str) -> None:
    request = SweepRequest(
        symbols=["SPX", "IXIC"],
        strategy="sma_cross",
        grid={"slow": [30, 60]},
        grid_specs=["fast=5:15:5"],
        config=BacktestConfig(fee=0.001),
        top_k=2,
        save_top=True,
        artifact_key="sweep-test",
        lake=filled_lake,
    )
    summaries = sweep_flow(request)
    assert [s["symbol"] for s in summaries] == ["SPX", "IXIC"]
    assert all(s["n_combos"] == 3 * 2 for s in summaries)
    for summary in summaries:
        assert [row["rank"] for row in summary["top"]] == [1, 2]
        assert summary["top"][0]["sharpe"] >= summary["top"][1]["sharpe"]
    runs = list_runs(Lake(filled_lake))
    assert runs.height == 4
    table = artifact("sweep-test")
    assert len(table) == 4 and {row["run_id"] for row in table} == set(runs["run_id"].to_list())
    assert "6 combos, ranked by sharpe" in artifact("sweep-test-report")


def test_sweep_request_rejects_bad_grids() -> None:
    with pytest.raises(TorchTraderError, match="at least one parameter range"):
        SweepRequest().ranges()
    with pytest.raises(TorchTraderError, match="bad --grid"):
        SweepRequest(grid_specs=["fast"]).ranges()
    with pytest.raises(TorchTraderError, match="in both grid and grid_specs"):
        SweepRequest(grid={"fast": [5]}, grid_specs=["fast=5:6:1"]).ranges()


def test_backtest_request_refuses_params_of_an_unlisted_strategy() -> None:
    with pytest.raises(ValueError, match=r"params given for \['ema_cross'\]"):
        BacktestRequest(strategies=["sma_cross"], params={"ema_cross": [{"fast": 3}]})
