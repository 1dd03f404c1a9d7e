"""Typed results of bars validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl


@dataclass(frozen=True)
class Gap:
    """Bars missing between two stored bars of one series (markets close: reported, never an error)."""

    symbol: str
    after: datetime
    before: datetime
    missing_bars: int


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of the GX bars suite, as Great Expectations evaluated it.

    ``element_count`` is how many rows GX saw (a deterministic sample on big batches, see
    ``torchtrader.quality.validate``); ``unexpected_rows`` are input row indices; ``agrees`` says GX
    flagged exactly the rows the fast polars pass flagged for the same rule among those rows.
    """

    name: str
    expectation_type: str
    success: bool
    unexpected_count: int
    element_count: int
    unexpected_rows: tuple[int, ...] = ()
    agrees: bool = True


@dataclass(frozen=True)
class ValidationReport:
    """What validation found in one bars frame.

    ``valid``: canonical bars that passed every row-level rule, in input order, exact duplicates collapsed
    to their first occurrence. ``invalid``: the failing rows with their original values, ``row`` (u32
    index into the input frame) and ``reason`` (rule reasons joined with "; "), ordered by row.
    """

    valid: pl.DataFrame
    invalid: pl.DataFrame
    gaps: list[Gap] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    success: bool = True

    def first_error(self) -> tuple[int, str] | None:
        """(row index, reason) of the earliest failing input row, or None when every row passed."""
        if self.invalid.is_empty():
            return None
        first = self.invalid.row(0, named=True)
        return int(first["row"]), str(first["reason"])

    @property
    def gx_agrees(self) -> bool:
        """GX and the fast path flagged the same rows for every rule (vacuously true without GX)."""
        return all(outcome.agrees for outcome in self.expectations)
