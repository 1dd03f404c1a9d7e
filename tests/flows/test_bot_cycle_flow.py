"""The bot-cycle flow on a real Prefect API: a paper bot cycles from flow parameters, publishes its
positions table and P&L markdown, and reads API keys from Secret blocks by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.bot_cycle import BotCycleRequest, artifact_key, bot_cycle_flow
from tasks.bots import prefect_secret, secret_block_name
from torchtrader.bots.config import make_bot_config
from torchtrader.bots.store import StateStore

pytestmark = pytest.mark.flows
GENESIS = datetime(2024, 1, 1, tzinfo=UTC)


def _artifacts(key: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return list(client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))))


def test_cycles_publish_positions_and_pnl(prefect_harness: None, tmp_path: Path) -> None:
    config = make_bot_config(
        {
            "name": "flow-bot",
            "strategy": "sma_cross",
            "params": {"fast": 2, "slow": 5},
            "symbols": ["ETH/USDT"],
            "timeframe": "1h",
            "capital": 5_000.0,
            "lookback_bars": 1_000,
        }
    )
    state_db = f"sqlite:///{tmp_path / 'state.db'}"
    lake = str(tmp_path / "lake")
    for i in range(8, 14):
        request = BotCycleRequest(
            name="flow-bot", config=config, lake=lake, state_db=state_db, now=GENESIS + timedelta(hours=i)
        )
        result = bot_cycle_flow(request)
        assert result["report"]["state"] == "running"
    assert result["status"]["last_cycle"]["bar_ts"] == (GENESIS + timedelta(hours=12)).isoformat()
    assert len(StateStore(state_db).equity("flow-bot")) == 6

    tables = _artifacts(artifact_key("flow-bot", "positions"))
    markdowns = _artifacts(artifact_key("flow-bot", "pnl"))
    assert len(tables) >= 6 and len(markdowns) >= 6
    newest = max(tables, key=lambda a: a.created)  # type: ignore[arg-type,return-value]
    rows = json.loads(newest.data) if isinstance(newest.data, str) else newest.data
    assert set(rows[0]) == {"symbol", "qty", "avg_price", "market_price", "unrealized_pnl"}
    text = max(markdowns, key=lambda a: a.created).data  # type: ignore[arg-type,return-value]
    assert "# Bot flow-bot" in str(text) and "realized P&L" in str(text)


def test_keys_resolve_from_secret_blocks_then_the_environment(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    assert secret_block_name("TT_FLOW_API_KEY") == "tt-flow-api-key"
    Secret(value="from-the-block").save("tt-flow-api-key", overwrite=True)
    monkeypatch.setenv("TT_FLOW_API_KEY", "from-the-env")
    monkeypatch.setenv("TT_FLOW_ONLY_ENV", "env-only")
    assert prefect_secret("TT_FLOW_API_KEY") == "from-the-block"
    assert prefect_secret("TT_FLOW_ONLY_ENV") == "env-only"
    assert prefect_secret("TT_FLOW_NOWHERE") is None
