"""Generic tables beside bars (features, runs, trades, equity) and the quarantine table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.lake.conftest import make_bars
from torchtrader.lake import QUARANTINE_SCHEMA, Lake


def runs(ids: list[str], sharpe: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"run_id": ids, "strategy": ["sma"] * len(ids), "sharpe": sharpe})


def test_append_then_read_back(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    first = lake.write_table("backtest_runs", runs(["a", "b"], [1.0, 2.0]))
    second = lake.write_table("backtest_runs", runs(["c"], [3.0]))
    assert (first.rows_added, first.version, second.rows_added, second.version) == (2, 0, 1, 1)
    assert_frame_equal(
        lake.read_table("backtest_runs").sort("run_id"), runs(["a", "b", "c"], [1.0, 2.0, 3.0])
    )
    assert lake.read_table("backtest_runs", version=0).height == 2


def test_upsert_on_a_key_inserts_and_replaces(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.write_table("backtest_runs", runs(["a", "b"], [1.0, 2.0]), key=["run_id"], mode="upsert")
    result = lake.write_table("backtest_runs", runs(["b", "c"], [20.0, 3.0]), key=["run_id"], mode="upsert")
    assert (result.rows_written, result.rows_added, result.rows_updated) == (2, 1, 1)
    table = lake.read_table("backtest_runs").sort("run_id")
    assert table["sharpe"].to_list() == [1.0, 20.0, 3.0]


def test_upsert_into_a_partitioned_table_touches_only_its_partitions(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    features = pl.DataFrame({"symbol": ["A", "A", "B"], "ts": [1, 2, 1], "rsi": [50.0, 55.0, 40.0]})
    lake.write_table("features", features, key=["symbol", "ts"], partition_by=["symbol"], mode="upsert")
    update = pl.DataFrame({"symbol": ["A"], "ts": [2], "rsi": [60.0]})
    result = lake.write_table("features", update, key=["symbol", "ts"], mode="upsert")
    assert (result.rows_added, result.rows_updated) == (0, 1)
    stored = lake.read_table("features", filters=[("symbol", "=", "A")]).sort("ts")
    assert stored["rsi"].to_list() == [50.0, 60.0]
    assert lake.read_table("features", filters=[("symbol", "=", "B")])["rsi"].to_list() == [40.0]


def test_overwrite_replaces_rows_and_schema_but_keeps_history(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.write_table("equity", pl.DataFrame({"t": [1, 2], "equity": [1.0, 1.1]}))
    result = lake.write_table(
        "equity", pl.DataFrame({"t": [1], "equity": [2.0], "cash": [0.5]}), mode="overwrite"
    )
    assert result.version == 1
    assert lake.read_table("equity").columns == ["t", "equity", "cash"]
    assert lake.read_table("equity").height == 1
    assert lake.read_table("equity", version=0).height == 2


def test_tables_lists_what_exists(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars(n=2))
    lake.write_table("trades", pl.DataFrame({"qty": [1.0]}))
    assert lake.tables() == ["bars", "trades"]
    assert lake.version("trades") == 0
    assert lake.version("equity") is None


def test_quarantine_keeps_rejected_rows_with_their_reason(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    rejected = make_bars(n=2).with_columns(
        pl.lit("high < low").alias("reason"),
        pl.lit("file.csv").alias("origin"),
        pl.lit(datetime(2024, 6, 1, tzinfo=UTC)).dt.cast_time_unit("us").alias("quarantined_at"),
    )
    result = lake.append_quarantine(rejected)
    assert (result.table, result.rows_added) == ("quarantine", 2)
    stored = lake.read_table("quarantine")
    assert stored.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert stored["reason"].to_list() == ["high < low"] * 2
    assert lake.version("bars") is None  # nothing reached bars


def test_sql_joins_tables(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars("A", n=3))
    lake.write_table("features", pl.DataFrame({"symbol": ["A"], "weight": [2.0]}))
    total = lake.sql("SELECT sum(b.close * f.weight) AS x FROM bars b JOIN features f USING (symbol)")
    assert total["x"].item() == pytest.approx(2.0 * (100.0 + 101.0 + 102.0))


def test_compact_keeps_the_data_and_adds_a_version(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    for day in range(4):  # four incremental appends: four small files
        lake.upsert_bars(make_bars(n=1, start=datetime(2024, 1, 1 + day, tzinfo=UTC), price=100.0 + day))
    before = lake.read_bars("BTC/USDT", "1h")
    version = lake.version()
    metrics = lake.compact()
    assert metrics["numFilesRemoved"] == 4
    assert lake.version() == (version or 0) + 1
    assert_frame_equal(lake.read_bars("BTC/USDT", "1h"), before)


def test_vacuum_removes_files_a_crashed_writer_left_behind(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars(n=5))
    # What a writer killed between writing its Parquet file and committing leaves: an unreferenced file.
    orphan = (
        Path(lake_uri) / "bars" / "source=test" / "timeframe=1h" / "symbol=BTC%2FUSDT" / "part-orphan.parquet"
    )
    make_bars(n=3, price=1.0).drop("source", "symbol", "timeframe").write_parquet(orphan)
    assert lake.read_bars("BTC/USDT", "1h").height == 5  # readers never see it
    removed = lake.vacuum(retention_hours=0)
    assert any(path.endswith("part-orphan.parquet") for path in removed)
    assert not orphan.exists()
    assert lake.read_bars("BTC/USDT", "1h").height == 5
