"""After ingest: `data resample`, `data gaps`, `data show --adjust`, `data list` ages, `data fresh` alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from torchtrader.alerts.receiver import WebhookReceiver
from torchtrader.ingest import LINEAGE_TABLE
from torchtrader.lake import Lake
from torchtrader.lake.corporate_actions import TABLE
from torchtrader.lake.resample import resample_bars

GOOD = Path(__file__).parents[1] / "data" / "binance" / "good"


def backfill(cli: Any) -> None:
    run = cli("ingest", "binance-dump", str(GOOD), "--symbol", "BTC/USDT", "--timeframe", "1m")
    assert run.code == 0, run.err


def test_resample_stores_resampled_source_with_lineage(cli: Any, lake_uri: str) -> None:
    backfill(cli)
    version = Lake(lake_uri).version("bars")
    run = cli("data", "resample", "--symbol", "BTC/USDT", "--from", "1m", "--to", "1h", "--json")
    assert run.code == 0, run.err
    report = run.json()
    assert (report["source"], report["rows_in"], report["rows_out"]) == ("resampled:binance-dump", 120, 2)
    assert report["input_version"] == version
    lake = Lake(lake_uri)
    hourly = lake.read_bars("BTC/USDT", "1h", source="resampled:binance-dump")
    expected = resample_bars(lake.read_bars("BTC/USDT", "1m", version=version), "1h")
    assert hourly.drop("source").equals(expected.drop("source"))
    lineage = lake.read_table(LINEAGE_TABLE).row(0, named=True)
    assert (lineage["input_source"], lineage["input_version"]) == ("binance-dump", version)
    again = cli("data", "resample", "--symbol", "BTC/USDT", "--from", "1m", "--to", "1h", "--json")
    assert again.json()["rows_added"] == 0


def test_resample_to_a_finer_timeframe_is_one_line_and_changes_nothing(cli: Any, lake_uri: str) -> None:
    backfill(cli)
    before = Lake(lake_uri).version("bars")
    run = cli("data", "resample", "--symbol", "BTC/USDT", "--from", "1h", "--to", "1m")
    assert run.code == 1
    assert (
        run.err
        == "error: --to 1m is not coarser than --from 1h: resampling only aggregates (pick a longer --to)\n"
    )
    assert Lake(lake_uri).version("bars") == before


def test_gaps_json_and_unknown_calendar(cli: Any, lake_uri: str) -> None:
    backfill(cli)
    lake = Lake(lake_uri)
    bars = lake.read_bars("BTC/USDT", "1m")
    holed = bars.filter(~pl.col("ts").is_between(bars["ts"][10], bars["ts"][14])).with_columns(
        pl.lit("holed").alias("source")
    )
    lake.upsert_bars(holed)
    run = cli("data", "gaps", "--symbol", "BTC/USDT", "--json")
    assert run.code == 0, run.err
    by_source = {row["source"]: row for row in run.json()}
    assert by_source["binance-dump"]["missing_bars"] == 0
    assert by_source["holed"]["missing_bars"] == 5
    assert by_source["holed"]["calendar"] == "24/7"
    (gap,) = by_source["holed"]["gaps"]
    assert gap["after"] == bars["ts"][9].isoformat()
    bad = cli("data", "gaps", "--calendar", "NOPE")
    assert bad.code == 1
    assert bad.err.startswith("error: unknown calendar 'NOPE' (--calendar)") and bad.err.count("\n") == 1


def test_show_adjust_and_list_age(cli: Any, lake_uri: str) -> None:
    assert cli("ingest", "sample", "--symbol", "SPX").code == 0
    lake = Lake(lake_uri)
    last = lake.read_bars("SPX")["ts"][-1]
    split = pl.DataFrame(
        {"symbol": ["SPX"], "ts": [last], "kind": ["split"], "value": [2.0], "source": ["test"]}
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    lake.write_table(TABLE, split, key=["symbol", "kind", "ts"], mode="upsert")
    raw = cli("data", "show", "-s", "SPX", "--adjust", "none", "--tail", "2", "--json").json()
    adjusted = cli("data", "show", "-s", "SPX", "--tail", "2", "--json").json()
    assert adjusted["adjust"] == "split"
    assert adjusted["bars"][0]["close"] == raw["bars"][0]["close"] / 2  # before the split's ex-date
    assert adjusted["bars"][1]["close"] == raw["bars"][1]["close"]  # on it
    bad = cli("data", "show", "-s", "SPX", "--adjust", "dividends")
    assert (bad.code, bad.err) == (1, "error: --adjust 'dividends': use split, total or none\n")
    (row,) = cli("data", "list", "--json").json()
    assert row["age_s"] > (datetime.now(UTC) - datetime(2019, 1, 1, tzinfo=UTC)).total_seconds()


def test_fresh_reports_ages_and_alerts_on_stale_series(cli: Any, lake_uri: str, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = (now - timedelta(hours=5)).isoformat()
    assert cli("ingest", "synthetic", "-s", "BTC/USDT", "-t", "1h", "--start", start).code == 0
    with WebhookReceiver() as hook:
        watchlist = tmp_path / "watchlist.toml"
        watchlist.write_text(
            f'alerts = ["{hook.url}"]\n'
            '[[entry]]\nname = "synthetic-hourly"\nsource = "synthetic"\n'
            'symbols = ["BTC/USDT", "ETH/USDT"]\ntimeframes = ["1h"]\n'
        )
        run = cli("data", "fresh", "--watchlist", str(watchlist), "--alert", "--json")
        assert run.code == 1  # ETH/USDT was never ingested: stale
        rows = {row["symbol"]: row for row in run.json()}
        assert rows["BTC/USDT"]["stale"] is False and rows["BTC/USDT"]["age_s"] < 3 * 3600
        assert rows["ETH/USDT"]["stale"] is True and rows["ETH/USDT"]["last_ts"] is None
        (payload,) = hook.wait_for(1)
        assert "1 stale lake series" in payload["title"]
        assert "synthetic ETH/USDT 1h: last bar never" in payload["message"]
