"""Lake schema versions: a lake written in the previous layouts is upgraded step by step, in place,
values unchanged, the version recorded in the lake; reruns and interrupted upgrades are harmless, and
bad requests are one line with nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from torchtrader.lake import Lake
from torchtrader.lake.migrations import (
    CURRENT_VERSION,
    SCHEMA_TABLE,
    STEPS,
    UNKNOWN_ORIGIN,
    schema_status,
    upgrade,
)
from torchtrader.lake.schema import BARS_PARTITION

NAIVE_TS = [datetime(2024, 1, 1, h) for h in range(4)]  # the old layout: UTC meant, not said
CLOSES = [100.0, 101.5, 99.25, 102.0]


def _old_bars() -> pl.DataFrame:
    rows = []
    for symbol, offset in (("BTC/USDT", 0.0), ("ETH/USDT", 1000.0)):
        for ts, close in zip(NAIVE_TS, CLOSES, strict=True):
            c = close + offset
            rows.append(("synthetic", symbol, "1h", ts, c - 1, c + 2, c - 3, c, 10.0))
    return pl.DataFrame(
        rows,
        schema={
            "source": pl.String,
            "symbol": pl.String,
            "timeframe": pl.String,
            "ts": pl.Datetime("us"),
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Float64,
        },
        orient="row",
    )


def write_v1_lake(root: Path) -> None:
    """Layout v1, written with deltalake directly (not the code under test): naive ts, bars
    partitioned by symbol only, quarantine rows without provenance."""
    write_deltalake(str(root / "bars"), _old_bars().to_arrow(), partition_by=["symbol"])
    quarantine = _old_bars().head(1).with_columns(pl.lit("high < low").alias("reason"))
    write_deltalake(str(root / "quarantine"), quarantine.to_arrow())


def write_v2_lake(root: Path) -> None:
    """Layout v2: bars already current, quarantine still without provenance."""
    bars = _old_bars().with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    write_deltalake(str(root / "bars"), bars.to_arrow(), partition_by=list(BARS_PARTITION))
    write_deltalake(str(root / "quarantine"), bars.head(1).with_columns(reason=pl.lit("x")).to_arrow())


def _versions(root: Path) -> dict[str, int]:
    return {name: DeltaTable(str(root / name)).version() for name in ("bars", "quarantine")}


def test_a_v1_lake_is_upgraded_to_the_current_layout_with_every_value_kept(
    lake_uri: str, run_cli: Any
) -> None:
    root = Path(lake_uri)
    write_v1_lake(root)
    lake = Lake(lake_uri)
    status = schema_status(lake)
    assert (status.version, status.recorded, status.pending) == (1, False, [2, 3])

    r = run_cli(lake_uri, "lake", "upgrade", "--json", "-")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["from_version"] == 1 and report["to_version"] == CURRENT_VERSION == 3
    assert [s["version"] for s in report["applied"]] == [2, 3]

    bars = DeltaTable(str(root / "bars"))
    assert list(bars.metadata().partition_columns) == list(BARS_PARTITION)
    assert {f.name: str(f.type) for f in bars.schema().fields}["ts"] == 'PrimitiveType("timestamp")'
    eth = Lake(lake_uri).read_bars("ETH/USDT", "1h", source="synthetic")
    # by hand: the naive stamps were UTC; closes are the old ones plus the ETH offset
    assert eth["ts"].to_list() == [t.replace(tzinfo=UTC) for t in NAIVE_TS]
    assert eth["close"].to_list() == [c + 1000.0 for c in CLOSES]
    assert eth["high"].to_list() == [c + 1002.0 for c in CLOSES]
    quarantine = Lake(lake_uri).read_table("quarantine")
    assert quarantine["origin"].to_list() == [UNKNOWN_ORIGIN]
    assert quarantine["quarantined_at"].to_list() == [None]
    assert quarantine["reason"].to_list() == ["high < low"]

    after = schema_status(Lake(lake_uri))
    assert (after.version, after.recorded, after.pending) == (3, True, [])
    recorded = Lake(lake_uri).read_table(SCHEMA_TABLE).sort("version")
    assert recorded["version"].to_list() == [2, 3]
    # the old layout is still there by time travel (one overwrite commit per table)
    assert Lake(lake_uri).read_table("bars", version=0)["ts"].dtype == pl.Datetime("us")


def test_upgrading_twice_changes_nothing_the_second_time(lake_uri: str) -> None:
    root = Path(lake_uri)
    write_v1_lake(root)
    upgrade(Lake(lake_uri))
    before = _versions(root)
    again = upgrade(Lake(lake_uri))
    assert again.applied == () and again.from_version == 3
    assert _versions(root) == before


def test_a_v2_lake_runs_only_the_quarantine_step(lake_uri: str) -> None:
    root = Path(lake_uri)
    write_v2_lake(root)
    assert schema_status(Lake(lake_uri)).version == 2
    bars_before = DeltaTable(str(root / "bars")).version()
    report = upgrade(Lake(lake_uri))
    assert [s["version"] for s in report.applied] == [3]
    assert DeltaTable(str(root / "bars")).version() == bars_before


def test_upgrade_to_stops_at_the_named_version(lake_uri: str, run_cli: Any) -> None:
    write_v1_lake(Path(lake_uri))
    r = run_cli(lake_uri, "lake", "upgrade", "--to", "2")
    assert r.code == 0, r.err
    assert "v1 → v2" in r.out
    assert schema_status(Lake(lake_uri)).version == 2
    shown = run_cli(lake_uri, "lake", "version")
    assert "schema v2 (recorded); current v3; pending v3: run torchtrader lake upgrade" in shown.out


def test_a_step_interrupted_before_its_version_was_recorded_is_simply_run_again(lake_uri: str) -> None:
    root = Path(lake_uri)
    write_v1_lake(root)
    STEPS[0].apply(Lake(lake_uri))  # the rewrite committed, then the process died
    assert schema_status(Lake(lake_uri)).version == 2  # the layout says so
    report = upgrade(Lake(lake_uri))
    assert [s["version"] for s in report.applied] == [3]
    assert Lake(lake_uri).read_bars("BTC/USDT", "1h", source="synthetic")["close"].to_list() == CLOSES


def test_a_lake_written_by_this_code_is_current_and_gets_stamped(lake_uri: str, run_cli: Any) -> None:
    r = run_cli(lake_uri, "ingest", "synthetic", "--symbol", "BTC/USDT", "--timeframe", "1h",
                "--start", "2024-01-01", "--end", "2024-01-03")  # fmt: skip
    assert r.code == 0, r.err
    assert schema_status(Lake(lake_uri)).version == CURRENT_VERSION
    report = upgrade(Lake(lake_uri))
    assert report.applied == () and schema_status(Lake(lake_uri)).recorded


def test_an_empty_lake_is_stamped_current(lake_uri: str) -> None:
    assert schema_status(Lake(lake_uri)).version is None
    upgrade(Lake(lake_uri))
    assert schema_status(Lake(lake_uri)).to_json() == {
        "version": 3,
        "current": 3,
        "recorded": True,
        "pending": [],
    }


def test_a_dry_run_lists_the_steps_and_changes_nothing(lake_uri: str, run_cli: Any) -> None:
    root = Path(lake_uri)
    write_v1_lake(root)
    before = _versions(root)
    r = run_cli(lake_uri, "lake", "upgrade", "--dry-run")
    assert r.code == 0, r.err
    assert "would apply" in r.out and "v2: bars" in r.out and "v3: quarantine" in r.out
    assert _versions(root) == before
    assert not (root / SCHEMA_TABLE).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "9"), "no lake schema v9: versions run 1..3"),
        (("--to", "1"), "is at schema v3, above v1: downgrades are not supported"),
    ],
)
def test_bad_requests_are_one_line_and_change_nothing(
    lake_uri: str, run_cli: Any, args: tuple[str, ...], message: str
) -> None:
    root = Path(lake_uri)
    write_v2_lake(root)
    upgrade(Lake(lake_uri))
    before = {**_versions(root), SCHEMA_TABLE: DeltaTable(str(root / SCHEMA_TABLE)).version()}
    r = run_cli(lake_uri, "lake", "upgrade", *args)
    assert r.code == 1
    assert r.err.strip().count("\n") == 0 and message in r.err
    assert {**_versions(root), SCHEMA_TABLE: DeltaTable(str(root / SCHEMA_TABLE)).version()} == before


def test_a_lake_from_a_newer_torchtrader_is_refused(lake_uri: str, run_cli: Any) -> None:
    lake = Lake(lake_uri)
    lake.write_table(
        SCHEMA_TABLE,
        pl.DataFrame(
            {"version": [7], "description": ["future"], "tables": [""], "applied_at": [datetime.now(UTC)]}
        ),
    )
    r = run_cli(lake_uri, "lake", "version")
    assert r.code == 1
    assert "is at schema v7, newer than this torchtrader (v3): upgrade torchtrader" in r.err


def test_doctor_shows_the_schema_version_and_the_fix(lake_uri: str) -> None:
    from torchtrader.config import load_settings
    from torchtrader.ops.doctor import lake as lake_check

    write_v1_lake(Path(lake_uri))
    stale = lake_check(load_settings(lake=lake_uri))
    assert (stale.status, stale.fix) == ("warn", "torchtrader lake upgrade")
    assert "schema v1, this torchtrader writes v3" in stale.detail
    upgrade(Lake(lake_uri))
    fresh = lake_check(load_settings(lake=lake_uri))
    assert fresh.status == "ok" and fresh.detail.endswith("schema v3")
