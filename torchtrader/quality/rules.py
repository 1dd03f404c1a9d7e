"""The bars rules, declared once: each rule yields both a polars failing-row expression and a GX expectation.

The fast path (``validate_bars``) evaluates ``Rule.failing()`` on a *check frame*; Great Expectations
evaluates ``Rule.expectation()`` on the same rows converted to pandas. Neither side is written twice.

A check frame is the canonical bars frame with NaN turned into null (GX on pandas cannot tell them apart,
and neither may we) plus three columns computed by the engine:

- ``ts_step_us``: microseconds since the previous bar of the same series in (series, ts) order, null for
  a series' first bar. It lets one GX batch check "increasing ts per series" across many series.
- ``ts_offset_us``: microseconds past the last timeframe boundary (0 when ``ts`` is aligned).
- ``ts_conflict``: the row shares (source, symbol, timeframe, ts) with a row holding other values. GX
  does not see it; it computes uniqueness itself with ``expect_compound_columns_to_be_unique``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

import polars as pl

from torchtrader.lake.schema import BARS_KEY, BARS_SCHEMA, PRICE_COLUMNS

if TYPE_CHECKING:
    import great_expectations.core
    from great_expectations.expectations.expectation import Expectation

STEP_COLUMN = "ts_step_us"
OFFSET_COLUMN = "ts_offset_us"
CONFLICT_COLUMN = "ts_conflict"
ROW_COLUMN = "row"
SUITE_NAME = "torchtrader-bars"


@cache
def import_gx() -> None:
    """Import great_expectations on first use: it costs seconds and the fast path never needs it.

    Call this before any ``from great_expectations... import``: GX 1.24 imports the deprecated stdlib
    module sre_constants, whose DeprecationWarning is GX's business and must not fail strict callers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations  # noqa: F401


class Check(Protocol):
    def failing(self) -> pl.Expr: ...

    def expectation(self, meta: dict[str, str]) -> Expectation: ...


@dataclass(frozen=True)
class NotNull:
    column: str

    def failing(self) -> pl.Expr:
        return pl.col(self.column).is_null()

    def expectation(self, meta: dict[str, str]) -> Expectation:
        import_gx()
        from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
            ExpectColumnValuesToNotBeNull,
        )

        return ExpectColumnValuesToNotBeNull(column=self.column, meta=meta)


@dataclass(frozen=True)
class Bounded:
    """``minimum <= column <= maximum`` (``minimum < column`` if strict); nulls are NotNull's job."""

    column: str
    minimum: float | None = None
    maximum: float | None = None
    strict_min: bool = False

    def failing(self) -> pl.Expr:
        value = pl.col(self.column)
        fails = pl.lit(False)
        if self.minimum is not None:
            fails = fails | (value <= self.minimum if self.strict_min else value < self.minimum)
        if self.maximum is not None:
            fails = fails | (value > self.maximum)
        return fails.fill_null(False)

    def expectation(self, meta: dict[str, str]) -> Expectation:
        import_gx()
        from great_expectations.expectations.core.expect_column_values_to_be_between import (
            ExpectColumnValuesToBeBetween,
        )

        return ExpectColumnValuesToBeBetween(
            column=self.column,
            min_value=self.minimum,
            max_value=self.maximum,
            strict_min=self.strict_min,
            meta=meta,
        )


@dataclass(frozen=True)
class NotBelow:
    """``column >= other`` for every row where both are present."""

    column: str
    other: str

    def failing(self) -> pl.Expr:
        return (pl.col(self.column) < pl.col(self.other)).fill_null(False)

    def expectation(self, meta: dict[str, str]) -> Expectation:
        import_gx()
        from great_expectations.expectations.core.expect_column_pair_values_a_to_be_greater_than_b import (
            ExpectColumnPairValuesAToBeGreaterThanB,
        )

        return ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=self.column,
            column_B=self.other,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=meta,
        )


@dataclass(frozen=True)
class UniqueKey:
    """No two rows (exact duplicates collapsed) share the key; rows missing a key part are skipped."""

    columns: tuple[str, ...]

    def failing(self) -> pl.Expr:
        return pl.col(CONFLICT_COLUMN)

    def expectation(self, meta: dict[str, str]) -> Expectation:
        import_gx()
        from great_expectations.expectations.core.expect_compound_columns_to_be_unique import (
            ExpectCompoundColumnsToBeUnique,
        )

        return ExpectCompoundColumnsToBeUnique(
            column_list=list(self.columns), ignore_row_if="any_value_is_missing", meta=meta
        )


@dataclass(frozen=True)
class Rule:
    """One bars rule. ``row_level=False``: the rule is checked and reported, but a row failing it always
    fails another rule too (strictly increasing ts after sorting = unique ts), so it adds no reason."""

    name: str
    check: Check
    reason: str
    row_level: bool = True

    def failing(self) -> pl.Expr:
        return self.check.failing()

    def expectation(self) -> Expectation:
        return self.check.expectation({"rule": self.name})


RULES: tuple[Rule, ...] = (
    *(
        Rule(
            f"{column}_not_null", NotNull(column), f"{column} is null{' or NaN' if dtype.is_float() else ''}"
        )
        for column, dtype in BARS_SCHEMA.items()
    ),
    Rule("ts_unique", UniqueKey(BARS_KEY), "conflicting rows for one timestamp"),
    Rule("ts_increasing", Bounded(STEP_COLUMN, minimum=1), "ts not after the previous bar", row_level=False),
    Rule("ts_aligned", Bounded(OFFSET_COLUMN, minimum=0, maximum=0), "ts not aligned to the timeframe"),
    *(
        Rule(f"{column}_positive", Bounded(column, minimum=0, strict_min=True), f"{column} is not positive")
        for column in PRICE_COLUMNS
    ),
    Rule("volume_not_negative", Bounded("volume", minimum=0), "volume is negative"),
    Rule("high_not_below_low", NotBelow("high", "low"), "high is below low"),
    Rule("high_not_below_open", NotBelow("high", "open"), "high is below open"),
    Rule("high_not_below_close", NotBelow("high", "close"), "high is below close"),
    Rule("low_not_above_open", NotBelow("open", "low"), "low is above open"),
    Rule("low_not_above_close", NotBelow("close", "low"), "low is above close"),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}
ROW_RULES = tuple(rule for rule in RULES if rule.row_level)


def reasons_expr() -> pl.Expr:
    """Every failed row-level rule's reason, in declaration order, joined with '; ' (null when none)."""
    return pl.concat_str(
        [pl.when(rule.failing()).then(pl.lit(rule.reason)) for rule in ROW_RULES],
        separator="; ",
        ignore_nulls=True,
    )


def any_failing_expr() -> pl.Expr:
    return pl.any_horizontal([rule.failing() for rule in ROW_RULES])


def bars_expectation_suite() -> great_expectations.core.ExpectationSuite:
    """The declared bars suite as a fresh ``great_expectations.core.ExpectationSuite``."""
    import_gx()
    from great_expectations.core import ExpectationSuite

    return ExpectationSuite(name=SUITE_NAME, expectations=[rule.expectation() for rule in RULES])
