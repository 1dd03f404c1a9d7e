"""MLflow tracking: runs that always end (FINISHED or FAILED with the reason), nested trial runs,
lineage tags (lake version, git commit, strategy file hash, seed, search, range), Parquet artifacts.

    with tracked_run(uri, "tune-sma", run_name="grid", tags=lineage_tags(...)) as run:
        run.log_metrics({"sharpe": 1.2})
        run.log_frame(table, "evaluations")
"""

from __future__ import annotations

from torchtrader.tracking.lineage import file_sha256, git_state, lineage_tags, strategy_file
from torchtrader.tracking.links import run_link
from torchtrader.tracking.runs import (
    FAILURE_TAG,
    PARENT_TAG,
    TrackedRun,
    check_tracking_uri,
    end_run,
    ensure_experiment,
    failure_reason,
    tracked_run,
)

__all__ = [
    "FAILURE_TAG",
    "PARENT_TAG",
    "TrackedRun",
    "check_tracking_uri",
    "end_run",
    "ensure_experiment",
    "failure_reason",
    "file_sha256",
    "git_state",
    "lineage_tags",
    "run_link",
    "strategy_file",
    "tracked_run",
]
