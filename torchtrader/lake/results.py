"""What lake writes report and what the lake says about the series it holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write.

    ``rows_written`` counts the rows handed in and absorbed, ``rows_added`` the keys that were genuinely
    new, ``rows_updated`` the existing keys whose values changed. ``version`` is the table version after
    the call: a new version when something was committed, the unchanged current version when the frame
    held nothing new, and None only when the table still does not exist (an empty first write).
    """

    table: str
    rows_written: int
    rows_added: int
    version: int | None
    rows_updated: int = 0

    @property
    def committed(self) -> bool:
        return self.rows_added > 0 or self.rows_updated > 0


@dataclass(frozen=True)
class SeriesInfo:
    """One (source, symbol, timeframe) series in ``bars``; first/last are bar-open times in UTC."""

    source: str
    symbol: str
    timeframe: str
    rows: int
    first: datetime
    last: datetime
