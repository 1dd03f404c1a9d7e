"""Bot tasks: one bot cycle per task (the library does the work), plus the Secret-block resolver.

No retries: a cycle is idempotent, but a failed one counts against the bot's error budget and the
next scheduled run is the retry.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.bots.config import BotConfig
from torchtrader.bots.ops import cycle_once
from torchtrader.config import load_settings


def secret_block_name(name: str) -> str:
    """Prefect block names are lowercase with dashes: ``BINANCE_API_KEY`` → ``binance-api-key``."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def prefect_secret(name: str) -> str | None:
    """The Secret block for ``name``, else the environment variable of that name (None: neither)."""
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(secret_block_name(name), _sync=True)  # type: ignore[call-arg]
    except ValueError:  # no such block
        return os.environ.get(name)
    value = block.get()
    return str(value) if value else os.environ.get(name)


@task(name="bot-cycle", task_run_name="bot-cycle-{name}", cache_policy=NO_CACHE)
def bot_cycle_task(
    name: str,
    config: BotConfig | None,
    config_file: str | None,
    lake: str | None,
    state_db: str | None,
    use_secret_blocks: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    return cycle_once(
        load_settings(lake=lake, state_db=state_db),
        name,
        config=config,
        config_file=config_file,
        resolver=prefect_secret if use_secret_blocks else None,
        now=now,
    )
