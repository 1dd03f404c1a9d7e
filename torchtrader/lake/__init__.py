"""The versioned lake (Delta tables): ``Lake`` reads and writes; schemas live in ``schema``."""

from torchtrader.lake.core import Lake
from torchtrader.lake.results import SeriesInfo, WriteResult
from torchtrader.lake.schema import (
    BARS_KEY,
    BARS_PARTITION,
    BARS_SCHEMA,
    QUARANTINE_SCHEMA,
    empty_bars,
    to_canonical_bars,
)

__all__ = [
    "BARS_KEY",
    "BARS_PARTITION",
    "BARS_SCHEMA",
    "QUARANTINE_SCHEMA",
    "Lake",
    "SeriesInfo",
    "WriteResult",
    "empty_bars",
    "to_canonical_bars",
]
