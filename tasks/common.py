"""What every task module shares: the retry rule and settings resolution."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from torchtrader.errors import SourceUnavailableError

TRANSIENT_RETRIES = 3


def retry_on_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures a retry can cure: timeouts, rate limits, 5xx (SourceUnavailableError).
    Bad symbols, bad credentials, bad data fail at once."""
    try:
        state.result(raise_on_failure=True)
    except SourceUnavailableError:
        return True
    except Exception:
        return False
    return False
