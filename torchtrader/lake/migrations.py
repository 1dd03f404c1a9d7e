"""Schema versions of a lake and the steps that upgrade an older one, as Alembic does for the state DB.

The version lives in the lake itself, in a small ``lake_schema`` Delta table (one row per applied
step: version, what it changed, when) — the lake's ``alembic_version``. A lake written before
versioning has no such table; its version is read off its layout (``detect_version``) and
``upgrade`` stamps it. Layouts so far:

1. bars ``ts`` as a naive timestamp (meant as UTC) and partitioned by symbol only; quarantine rows
   without provenance.
2. bars ``ts`` as UTC microseconds (``BARS_SCHEMA``), partitioned by ``BARS_PARTITION``.
3. quarantine rows carry ``origin`` and ``quarantined_at`` (``QUARANTINE_SCHEMA``). Current.

Each step rewrites one table in one Delta commit (older versions stay readable by time travel until a
vacuum) and is idempotent, so a step interrupted before its version was recorded is simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from torchtrader.errors import LakeError
from torchtrader.lake._tables import read_table, write_table
from torchtrader.lake.core import Lake
from torchtrader.lake.schema import BARS_PARTITION, BARS_SCHEMA, QUARANTINE_SCHEMA

logger = logging.getLogger(__name__)

SCHEMA_TABLE = "lake_schema"
SCHEMA_COLUMNS: dict[str, pl.DataType] = {
    "version": pl.Int64(),
    "description": pl.String(),
    "tables": pl.String(),
    "applied_at": pl.Datetime("us", "UTC"),
}
UNKNOWN_ORIGIN = "unknown (quarantined before schema v3)"


@dataclass(frozen=True)
class Step:
    version: int  # the version the lake is at once this step ran
    description: str
    tables: tuple[str, ...]
    apply: Callable[[Lake], None]


@dataclass(frozen=True)
class SchemaStatus:
    version: int | None  # None: an empty lake (nothing to upgrade)
    current: int
    recorded: bool  # False: read off the layout of a lake written before versioning

    @property
    def pending(self) -> list[int]:
        start = self.version if self.version is not None else self.current
        return [step.version for step in STEPS if step.version > start]

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "current": self.current,
            "recorded": self.recorded,
            "pending": self.pending,
        }


@dataclass(frozen=True)
class UpgradeReport:
    lake: str
    from_version: int | None
    to_version: int
    applied: tuple[dict[str, object], ...]
    dry_run: bool

    def to_json(self) -> dict[str, object]:
        return {
            "lake": self.lake,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "applied": list(self.applied),
            "dry_run": self.dry_run,
        }


def _bars_utc_and_partitioned(lake: Lake) -> None:
    store = lake._store
    table = store.latest("bars")
    if table is None or not _bars_is_v1(lake):
        return
    frame = read_table(store, "bars", version=None, filters=None, columns=None)
    ts = frame.schema["ts"]
    if isinstance(ts, pl.Datetime) and ts.time_zone is None:
        frame = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items()])
    write_table(
        store, "bars", frame, key=None, partition_by=list(BARS_PARTITION), mode="overwrite", internal=True
    )


def _quarantine_provenance(lake: Lake) -> None:
    store = lake._store
    if store.latest("quarantine") is None or not _quarantine_is_v2(lake):
        return
    frame = read_table(store, "quarantine", version=None, filters=None, columns=None)
    additions = []
    if "origin" not in frame.columns:
        additions.append(pl.lit(UNKNOWN_ORIGIN).alias("origin"))
    if "quarantined_at" not in frame.columns:
        additions.append(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("quarantined_at"))
    frame = frame.with_columns(additions)
    ts = frame.schema["ts"]
    if isinstance(ts, pl.Datetime) and ts.time_zone is None:
        frame = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])
    write_table(store, "quarantine", frame, key=None, partition_by=None, mode="overwrite", internal=True)


STEPS: tuple[Step, ...] = (
    Step(
        2,
        "bars: ts as UTC microseconds, partitioned by source/timeframe/symbol",
        ("bars",),
        _bars_utc_and_partitioned,
    ),
    Step(
        3,
        "quarantine: origin and quarantined_at provenance columns",
        ("quarantine",),
        _quarantine_provenance,
    ),
)
CURRENT_VERSION = STEPS[-1].version
FIRST_VERSION = STEPS[0].version - 1


def _bars_is_v1(lake: Lake) -> bool:
    table = lake._store.latest("bars")
    if table is None:
        return False
    types = {field.name: str(field.type) for field in table.schema().fields}
    naive = "timestamp_ntz" in types.get("ts", "")
    return naive or list(table.metadata().partition_columns) != list(BARS_PARTITION)


def _quarantine_is_v2(lake: Lake) -> bool:
    table = lake._store.latest("quarantine")
    if table is None:
        return False
    names = {field.name for field in table.schema().fields}
    return not {"origin", "quarantined_at"} <= names


def _recorded_version(lake: Lake) -> int | None:
    if lake._store.latest(SCHEMA_TABLE) is None:
        return None
    versions = lake.read_table(SCHEMA_TABLE, columns=["version"])["version"]
    return int(versions.max()) if len(versions) else None  # type: ignore[arg-type]


def detect_version(lake: Lake) -> int | None:
    """The layout of a lake written before versioning (None when it holds no table at all)."""
    if not [name for name in lake.tables() if name != SCHEMA_TABLE]:
        return None
    if _bars_is_v1(lake):
        return FIRST_VERSION
    if _quarantine_is_v2(lake):
        return 2
    return CURRENT_VERSION


def schema_status(lake: Lake) -> SchemaStatus:
    recorded = _recorded_version(lake)
    if recorded is not None:
        if recorded > CURRENT_VERSION:
            raise LakeError(
                f"the lake at {lake.uri} is at schema v{recorded}, newer than this torchtrader "
                f"(v{CURRENT_VERSION}): upgrade torchtrader"
            )
        return SchemaStatus(recorded, CURRENT_VERSION, recorded=True)
    return SchemaStatus(detect_version(lake), CURRENT_VERSION, recorded=False)


def upgrade(lake: Lake, *, to: int | None = None, dry_run: bool = False) -> UpgradeReport:
    """Run every step above the lake's version up to ``to`` (default: current), recording each."""
    target = CURRENT_VERSION if to is None else to
    if not FIRST_VERSION <= target <= CURRENT_VERSION:
        raise LakeError(f"no lake schema v{target}: versions run {FIRST_VERSION}..{CURRENT_VERSION}")
    status = schema_status(lake)
    start = status.version
    if start is not None and start > target:
        raise LakeError(
            f"the lake at {lake.uri} is at schema v{start}, above v{target}: downgrades are not supported"
        )
    steps = [s for s in STEPS if (start if start is not None else target) < s.version <= target]
    applied = tuple(
        {"version": s.version, "description": s.description, "tables": list(s.tables)} for s in steps
    )
    if dry_run:
        return UpgradeReport(lake.uri, start, target, applied, dry_run=True)
    for step in steps:
        logger.info(
            "lake %s: schema v%d → v%d: %s", lake.uri, step.version - 1, step.version, step.description
        )
        step.apply(lake)
        _record(lake, step.version, step.description, step.tables)
    if not status.recorded and not steps and start is not None:
        _record(lake, start, "stamped: the layout already matched this version", ())
    elif start is None and target == CURRENT_VERSION:
        _record(lake, CURRENT_VERSION, "stamped: a new lake", ())
    return UpgradeReport(lake.uri, start, target, applied, dry_run=False)


def _record(lake: Lake, version: int, description: str, tables: tuple[str, ...]) -> None:
    row = pl.DataFrame(
        {
            "version": [version],
            "description": [description],
            "tables": [",".join(tables)],
            "applied_at": [datetime.now(UTC)],
        },
        schema=SCHEMA_COLUMNS,
    )
    lake.write_table(SCHEMA_TABLE, row, mode="append")
