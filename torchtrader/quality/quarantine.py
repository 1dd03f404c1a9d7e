"""Rows refused by validation, shaped for the lake's ``quarantine`` table."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from torchtrader.lake.schema import QUARANTINE_SCHEMA
from torchtrader.quality.report import ValidationReport


def quarantine_frame(
    report: ValidationReport, *, origin: str, quarantined_at: datetime | None = None
) -> pl.DataFrame:
    """``QUARANTINE_SCHEMA`` rows for every invalid row of ``report``, with its reason and origin.

    ``origin`` names where the rows came from (file path, URL, source description). Values are kept as
    they arrived (NaN stays NaN) so that the quarantine shows what was refused.
    """
    stamp = quarantined_at or datetime.now(UTC)
    stamp = stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)  # naive means UTC
    return report.invalid.with_columns(
        pl.lit(origin, pl.String).alias("origin"),
        pl.lit(stamp).alias("quarantined_at"),
    ).select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])
