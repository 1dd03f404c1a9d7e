"""The ingest flow on a real Prefect API: per-symbol isolation, incremental reruns, the artifact."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.ingest import IngestRequest, ingest_flow
from torchtrader.lake import Lake

pytestmark = pytest.mark.flows


def latest_table(key: str) -> list[dict[str, Any]]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    newest = max(artifacts, key=lambda a: a.created)  # type: ignore[arg-type,return-value]
    data = newest.data
    return json.loads(data) if isinstance(data, str) else data  # type: ignore[return-value]


def test_one_bad_symbol_does_not_fail_the_others(prefect_harness: None, lake_uri: str) -> None:
    request = IngestRequest(
        source="synthetic",
        symbols=["BTC/USDT", "NO-SUCH-PAIR", "ETH/USDT"],
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 3, tzinfo=UTC),
        lake=lake_uri,
    )
    rows = ingest_flow(request)

    by_symbol = {row["symbol"]: row for row in rows}
    assert by_symbol["BTC/USDT"]["rows_added"] == 48
    assert by_symbol["ETH/USDT"]["rows_added"] == 48
    assert by_symbol["NO-SUCH-PAIR"]["error"]
    assert "NO-SUCH-PAIR" in by_symbol["NO-SUCH-PAIR"]["error"]
    lake = Lake(lake_uri)
    assert {(s.symbol, s.rows) for s in lake.series()} == {("BTC/USDT", 48), ("ETH/USDT", 48)}
    table = latest_table("ingest-synthetic")
    assert {row["symbol"] for row in table} == {"BTC/USDT", "NO-SUCH-PAIR", "ETH/USDT"}
    assert {row["lake_version"] for row in table if not row["error"]} <= {lake.version("bars")} | set(
        range(lake.version("bars") or 0)
    )


def test_rerun_is_incremental_and_idempotent(prefect_harness: None, lake_uri: str) -> None:
    first = IngestRequest(
        source="synthetic",
        symbols=["BTC/USDT"],
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 2, tzinfo=UTC),
        lake=lake_uri,
    )
    assert ingest_flow(first)[0]["rows_added"] == 24
    assert ingest_flow(first)[0]["rows_added"] == 0
    extended = first.model_copy(update={"end": datetime(2024, 1, 3, tzinfo=UTC)})
    assert ingest_flow(extended)[0]["rows_added"] == 24
    frame = Lake(lake_uri).read_bars("BTC/USDT", "1h")
    assert len(frame) == 48
    assert frame["ts"].is_sorted()
    assert frame["ts"].n_unique() == 48
