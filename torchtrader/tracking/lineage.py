"""Lineage tags: what a tracked result was computed from, so it can be traced and rebuilt.

Data: the lake table and the version read. Code: the git commit of the checkout (and whether it had
uncommitted changes) plus the package's code version. Strategy: its name and, for a user file, the
SHA-256 of the file's bytes (the file itself goes up as an artifact). Search: seed, kind and range.
"""

from __future__ import annotations

import hashlib
import inspect
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from torchtrader.backtest.results import current_code_version

TAG_LAKE_TABLE = "lake_table"
TAG_LAKE_VERSION = "lake_version"
TAG_GIT_SHA = "mlflow.source.git.commit"
TAG_CODE_VERSION = "code_version"
TAG_DIRTY = "git_dirty"
TAG_STRATEGY = "strategy"
TAG_STRATEGY_FILE = "strategy_file"
TAG_STRATEGY_SHA = "strategy_file_sha256"
_REPO = Path(__file__).resolve().parents[2]


def lineage_tags(
    *,
    lake_version: int | None,
    strategy: str,
    strategies_dir: str | None = None,
    seed: int | None = None,
    search: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    lake_table: str = "bars",
) -> dict[str, str]:
    """Tags naming the data, code, strategy (file hash for user files) and search of a run."""
    tags: dict[str, str] = {
        TAG_LAKE_TABLE: lake_table,
        TAG_LAKE_VERSION: "none" if lake_version is None else str(lake_version),
        TAG_CODE_VERSION: current_code_version(),
        TAG_STRATEGY: strategy,
    }
    sha, dirty = git_state()
    if sha:
        tags[TAG_GIT_SHA] = sha
        tags[TAG_DIRTY] = "true" if dirty else "false"
    file = strategy_file(strategy, strategies_dir)
    if file is not None:
        tags[TAG_STRATEGY_FILE] = str(file)
        tags[TAG_STRATEGY_SHA] = file_sha256(file)
    if seed is not None:
        tags["seed"] = str(seed)
    if search is not None:
        tags["search"] = search
    tags["start"] = _iso(start)
    tags["end"] = _iso(end)
    return tags


def strategy_file(strategy: str, strategies_dir: str | None = None) -> Path | None:
    """The user file defining ``strategy``; None for a built-in."""
    from torchtrader.strategies import builtin_strategies, load_strategy

    cls = load_strategy(strategy, strategies_dir)
    if cls in builtin_strategies().values():
        return None
    try:
        return Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool]:
    """(commit SHA of the checkout this package runs from, has uncommitted tracked changes); (None,
    False) outside a checkout."""
    if not (_REPO / ".git").exists():
        return None, False
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, False
    return sha, dirty


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "none"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
