"""The watchlist deployments: one per entry in prefect.yaml, and a run that fetches only what is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from flows.ingest import WatchRequest, watchlist_flow
from tests.flows.test_ingest_flow import latest_table
from torchtrader.lake import Lake
from torchtrader.watchlist import load_watchlist

pytestmark = pytest.mark.flows
ROOT = Path(__file__).parents[2]


def test_every_watchlist_entry_has_its_deployment() -> None:
    watchlist = load_watchlist(ROOT / "deployments" / "watchlist.toml")
    deployments = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]
    watch = {d["name"]: d for d in deployments if d["entrypoint"] == "flows/ingest.py:watchlist_flow"}
    assert set(watch) == {f"watch-{entry.name}" for entry in watchlist.entry}
    for entry in watchlist.entry:
        deployment = watch[f"watch-{entry.name}"]
        assert deployment["parameters"]["request"]["entry"] == entry.name
        assert deployment["schedules"][0]["cron"] == entry.cron


def test_watchlist_run_is_incremental_and_reports_quality(
    prefect_harness: None, lake_uri: str, tmp_path: Path
) -> None:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(
        '[[entry]]\nname = "synthetic"\nsource = "synthetic"\nsymbols = ["BTC/USDT"]\ntimeframes = ["1h"]\n'
    )
    request = WatchRequest(entry="synthetic", watchlist=str(watchlist), lake=lake_uri)
    now = datetime.now(UTC)
    (first,) = watchlist_flow(request)
    assert first["rows_added"] > 24 and not first["error"]
    lake = Lake(lake_uri)
    last = lake.last_ts("synthetic", "BTC/USDT", "1h")
    assert last is not None and now - last < timedelta(hours=2)
    (again,) = watchlist_flow(request)
    assert again["rows_added"] <= 1  # only the bar that opened since (if the hour turned)
    quality = latest_table("data-quality-synthetic")
    assert quality[0]["symbol"] == "BTC/USDT" and quality[0]["new_gaps"] == 0
