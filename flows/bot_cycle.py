"""Bot-cycle flow: one cycle of one bot, then its positions table and P&L report as artifacts.

Deployed once per bot (``deployments/prefect.yaml``) on a cron matching the bot's timeframe with a
concurrency limit of one, so two cycles of a bot never overlap. API keys come from Prefect Secret
blocks named after the config's variables (``BINANCE_API_KEY`` → block ``binance-api-key``), or from
the environment.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.bots import bot_cycle_task
from torchtrader.bots.config import BotConfig


class BotCycleRequest(BaseModel):
    """Which bot, and where its config and state live. Prefect validates these as parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the bot; its config is bots/NAME.toml unless given below")
    config: BotConfig | None = Field(default=None, description="the whole config as flow parameters")
    config_file: str | None = None
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    state_db: str | None = Field(default=None, description="state DB URL; default from settings")
    use_secret_blocks: bool = True
    now: datetime | None = Field(default=None, description="act as if the clock read this (replays)")


def artifact_key(name: str, what: str) -> str:
    return f"bot-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}-{what}"


def pnl_markdown(status: dict[str, Any], report: dict[str, Any]) -> str:
    last = status["last_cycle"]
    lines = [
        f"# Bot {status['name']} — {status['state']}",
        "",
        "| equity | cash | realized P&L | unrealized P&L |",
        "| ---: | ---: | ---: | ---: |",
        f"| {status['equity']:.2f} | {status['cash']:.2f} | {status['realized_pnl']:+.2f} "
        f"| {status['unrealized_pnl']:+.2f} |",
        "",
        f"Bar {last['bar_ts']}: {len(report['orders'])} order(s), {len(report['fills'])} new fill(s).",
    ]
    for order in report["orders"]:
        lines.append(
            f"- {order['leg']} {order['side']} {order['qty']:.8g} {order['symbol']}: {order['status']}"
        )
    for found in report["discrepancies"]:
        lines.append(f"- discrepancy ({found['kind']}): {found['message']}")
    return "\n".join(lines) + "\n"


@flow(name="bot-cycle", flow_run_name="bot-cycle-{request.name}", log_prints=True)
def bot_cycle_flow(request: BotCycleRequest) -> dict[str, Any]:
    result = bot_cycle_task(
        request.name,
        request.config,
        request.config_file,
        request.lake,
        request.state_db,
        request.use_secret_blocks,
        request.now,
    )
    status, report = result["status"], result["report"]
    positions = status["positions"] or [
        {"symbol": "-", "qty": 0.0, "avg_price": None, "market_price": None, "unrealized_pnl": 0.0}
    ]
    create_table_artifact(
        key=artifact_key(request.name, "positions"),
        table=positions,
        description=f"positions of {request.name}",
    )
    create_markdown_artifact(
        key=artifact_key(request.name, "pnl"),
        markdown=pnl_markdown(status, report),
        description=f"P&L of {request.name}",
    )
    return result


def deployment_entries() -> list[dict[str, Any]]:
    """One ``prefect.yaml`` deployment per configured bot: cron of its timeframe, one run at a time."""
    from torchtrader.bots.config import bots_dir, load_bot_config
    from torchtrader.config import load_settings

    folder = bots_dir(load_settings())
    entries = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        config = load_bot_config(path)
        entries.append(
            {
                "name": f"bot-{config.name}",
                "description": f"One cycle of bot {config.name} as each {config.timeframe} bar closes.",
                "entrypoint": "flows/bot_cycle.py:bot_cycle_flow",
                "parameters": {"request": {"name": config.name}},
                "schedules": [{"cron": config.cron, "timezone": "UTC"}],
                "concurrency_limit": 1,
                "work_pool": {"name": "local-process", "work_queue_name": "default"},
            }
        )
    return entries


if __name__ == "__main__":
    import sys

    import yaml  # type: ignore[import-untyped]

    if sys.argv[1:] == ["--deployments"]:  # paste under `deployments:` in deployments/prefect.yaml
        print(yaml.safe_dump(deployment_entries(), sort_keys=False))
    else:
        bot_cycle_flow(BotCycleRequest(name=sys.argv[1]))
