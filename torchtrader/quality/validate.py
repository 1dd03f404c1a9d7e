"""Validate canonical bars: a fast vectorised polars pass decides, Great Expectations cross-checks.

How a frame is checked (per series = source, symbol, timeframe):

1. Sort, then check. Input order is kept for ``valid``; the ordering rules (unique and strictly
   increasing ts) are checked on the (series, ts)-sorted view, so unsorted input is accepted.
   Already-sorted input (the common case) is detected in O(n) and never sorted.
2. Exact duplicate rows collapse to their first occurrence silently; rows that share a timestamp but
   differ in any value are all invalid ("conflicting rows for one timestamp").
3. Every row-level rule of ``rules.RULES`` is one polars expression; reasons are only built for the
   failing rows. Gaps in the timeframe spacing of the valid rows become ``Gap`` objects, never errors.

Why GX does not see every row: the suite (22 expectations) costs a fixed ~0.15 s per run plus ~0.4 s
per million pandas rows here, i.e. < 2 M rows/s on its own, which would cap ingest below the
5 M rows/s target. The polars pass is the decision (tens of M rows/s on sorted input), and GX runs once
per call, for all series together, on a deterministic sample: every row the fast path flagged (up to
``GX_FLAGGED_ROWS``) plus an even stride of the rest, ``GX_SAMPLE_ROWS`` rows at most. Batches up to
that size are validated by GX in full. So each batch gets an independent second opinion on every
failure and on a spread of passing rows at O(1) cost, and ``ExpectationOutcome.agrees`` reports any
disagreement (logged as a warning). A background thread was rejected: GX is GIL-bound Python, so it
would still steal the same CPU from the writer on a small machine. ``run_gx=False`` skips GX.

When GX runs at all (``wants_gx``): importing it costs 5-10 s of a fresh process here, more than a
small ingest takes in total, while it never changes what is stored (the polars rule table decides).
So a short-lived process (the CLI) runs it only where the import is amortised: when asked (``--gx``),
when GX is already loaded in the process, or for batches of ``GX_AUTO_ROWS`` rows or more. Flows
(long-lived workers), ``data docs`` and direct ``validate_bars`` calls keep running it by default.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import polars as pl

from torchtrader.errors import ConfigError, ValidationError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.quality.report import Gap, ValidationReport
from torchtrader.quality.rules import (
    CONFLICT_COLUMN,
    OFFSET_COLUMN,
    ROW_COLUMN,
    STEP_COLUMN,
    any_failing_expr,
    reasons_expr,
)
from torchtrader.timeframes import timeframe_seconds

log = logging.getLogger(__name__)

SERIES_COLUMNS = ("source", "symbol", "timeframe")
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_SID = "_series"
_TS_US = "_ts_us"
_TF_US = "_timeframe_us"
_US = 1_000_000
GX_AUTO_ROWS = 2_000_000  # from here a CLI ingest takes seconds anyway and GX's import is < ~1/2 of it
# 1970-01-05 was a Monday: weekly bars (ccxt, exchanges) open on Mondays, not on the epoch's Thursday.
_WEEK_ANCHOR_US = 4 * 86_400 * _US


@dataclass(frozen=True)
class Prepared:
    """A bars frame ready for the rules: ``check`` in input order, ``order`` the sorted view's rows."""

    bars: pl.DataFrame  # canonical columns, original values
    check: pl.DataFrame  # row, canonical columns (NaN -> null), offset, conflict, series id, ts_us, tf_us
    collapsed: pl.Series | None  # bool per input row: an exact duplicate of an earlier row
    order: pl.Series | None  # input rows in (series, ts) order without collapsed rows; None = input order

    def _rows(self, columns: list[str], positions: pl.Series | None = None) -> pl.DataFrame:
        """``columns`` of the sorted view (only at ``positions`` when given), gathering nothing else."""
        frame = self.check.select(columns)
        if self.order is None:
            return frame if positions is None else frame[positions]
        return frame[self.order if positions is None else self.order.gather(positions)]

    def view(self, keep: pl.Series | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """The sorted view (optionally only rows where ``keep``, by input row) with the per-series step."""
        frame = self._rows(columns or self.check.columns)
        if keep is not None:
            frame = frame.filter(keep if self.order is None else keep.gather(self.order))
        same_series = pl.col(_SID) == pl.col(_SID).shift()
        step = pl.when(same_series).then(pl.col(_TS_US) - pl.col(_TS_US).shift())
        return frame.with_columns(step.alias(STEP_COLUMN))

    def view_at(self, positions: pl.Series) -> pl.DataFrame:
        """Rows at ascending ``positions`` of the sorted view with their step, reading nothing else."""
        frame = self._rows(self.check.columns, positions)
        previous = self._rows([_SID, _TS_US], (positions.cast(pl.Int64) - 1).clip(0))
        same_series = (pl.lit(positions) > 0) & (pl.col(_SID) == pl.lit(previous[_SID]))
        step = pl.when(same_series).then(pl.col(_TS_US) - pl.lit(previous[_TS_US]))
        return frame.with_columns(step.alias(STEP_COLUMN))

    @property
    def view_height(self) -> int:
        return self.check.height if self.order is None else self.order.len()


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's canonical columns; a one-line ValidationError when it is not a canonical bars frame."""
    missing = [name for name in BARS_SCHEMA if name not in frame.columns]
    if missing:
        raise ValidationError(
            f"bars frame lacks column(s) {', '.join(missing)}: build it with to_canonical_bars()"
        )
    wrong = [
        f"{name} is {frame.schema[name]}"
        for name, dtype in BARS_SCHEMA.items()
        if frame.schema[name] != dtype
    ]
    if wrong:
        raise ValidationError(f"bars frame is not canonical ({'; '.join(wrong)}): use to_canonical_bars()")
    return frame.select(list(BARS_SCHEMA))


def _timeframe_us(heads: pl.DataFrame, timeframe: str | None) -> tuple[pl.Expr, pl.Expr]:
    """Bar length and alignment anchor (µs) per row, as literals whenever one timeframe is in play."""
    present = [name for name in heads["timeframe"].unique().to_list() if name is not None]
    if timeframe is not None:
        timeframe_seconds(timeframe)  # ConfigError for a bad argument
        others = sorted(set(present) - {timeframe})
        if others:
            raise ValidationError(f"bars frame holds timeframe {others[0]!r} rows, expected {timeframe!r}")
        present = [timeframe]
    lengths: dict[str, int] = {}
    for name in present:
        try:
            lengths[name] = timeframe_seconds(name) * _US
        except ConfigError as error:
            raise ValidationError(f"bars frame holds an unknown timeframe: {error}") from error
    anchors = {name: _WEEK_ANCHOR_US if us % (7 * 86_400 * _US) == 0 else 0 for name, us in lengths.items()}
    if not lengths:
        return pl.lit(None, pl.Int64), pl.lit(0, pl.Int64)
    if len(lengths) == 1:
        ((name, us),) = lengths.items()
        return pl.lit(us, pl.Int64), pl.lit(anchors[name], pl.Int64)
    column = pl.col("timeframe")
    return (
        column.replace_strict(lengths, default=None, return_dtype=pl.Int64),
        column.replace_strict(anchors, default=None, return_dtype=pl.Int64),
    )


def prepare(frame: pl.DataFrame, timeframe: str | None = None) -> Prepared:
    """Canonical columns, NaN as null, derived columns, and the (series, ts) order when not already so."""
    bars = canonical(frame)
    # Segments: runs of rows from one series. Sorted input has exactly one segment per series.
    changed = pl.any_horizontal([pl.col(name).ne_missing(pl.col(name).shift()) for name in SERIES_COLUMNS])
    segment = bars.select((changed | (pl.int_range(pl.len()) == 0)).alias("start"))["start"]
    heads = bars.filter(segment).select(SERIES_COLUMNS)
    head_series = heads.select((pl.struct(SERIES_COLUMNS).rank("dense") - 1).alias(_SID))[_SID]
    n_series = head_series.n_unique()
    if heads.height == 1:
        series_id: pl.Expr | pl.Series = pl.lit(0, pl.UInt32)
    else:
        series_id = head_series.gather(segment.cast(pl.UInt32).cum_sum() - 1)
    tf_us, anchor_us = _timeframe_us(heads, timeframe)
    ts_us = pl.col("ts").dt.epoch("us")
    check = bars.with_row_index(ROW_COLUMN).with_columns(
        *(pl.col(name).fill_nan(None) for name in _VALUE_COLUMNS),
        ts_us.alias(_TS_US),
        tf_us.alias(_TF_US),
        ((ts_us - anchor_us) % tf_us).alias(OFFSET_COLUMN),
        series_id.alias(_SID),
        pl.lit(False).alias(CONFLICT_COLUMN),
    )
    # Sorted already: each series is one contiguous run with strictly increasing, non-null ts.
    in_order = (
        heads.height == n_series
        and check.select(
            ((pl.col(_TS_US).diff() > 0) | pl.lit(segment)).fill_null(False).all()
            & pl.col(_TS_US).is_not_null().all()
        ).item()
    )
    if in_order:
        return Prepared(bars=bars, check=check, collapsed=None, order=None)
    return _sort_and_dedupe(bars, check, one_series=n_series == 1)


def _sort_and_dedupe(bars: pl.DataFrame, check: pl.DataFrame, one_series: bool) -> Prepared:
    """The slow path: sort rows by (series, ts), collapse exact duplicates, mark conflicting timestamps."""
    keyed_mask = pl.all_horizontal([pl.col(name).is_not_null() for name in (*SERIES_COLUMNS, "ts")])
    keys = check.filter(keyed_mask).select(ROW_COLUMN, _SID, _TS_US)
    # Sort integer keys only (values are gathered for the few tied rows); stable, so ties stay in row order.
    ordered = keys.sort([_TS_US] if one_series else [_SID, _TS_US], maintain_order=True)
    same_series, same_ts = pl.col(_SID) == pl.col(_SID).shift(), pl.col(_TS_US) == pl.col(_TS_US).shift()
    tied_with_previous = (same_series & same_ts).fill_null(False)
    tied = ordered.filter(tied_with_previous | tied_with_previous.shift(-1).fill_null(False))[ROW_COLUMN]
    order = ordered[ROW_COLUMN]
    collapsed = conflict = None
    if tied.len():
        grouped = check[tied].select(ROW_COLUMN, _SID, _TS_US, *_VALUE_COLUMNS)
        # Tied rows are in input order inside each timestamp, so a first distinct row is the earliest one.
        distinct = pl.struct(_SID, _TS_US, *_VALUE_COLUMNS).is_first_distinct()
        collapsed_rows = grouped.filter(~distinct)[ROW_COLUMN].implode()
        conflict_rows = grouped.filter(distinct).filter(pl.len().over(_SID, _TS_US) > 1)[ROW_COLUMN].implode()
        collapsed = check[ROW_COLUMN].is_in(collapsed_rows)
        conflict = check[ROW_COLUMN].is_in(conflict_rows)
        order = order.filter(~order.is_in(collapsed_rows))
    order = pl.concat([order, check.filter(~keyed_mask)[ROW_COLUMN]])
    if conflict is not None:
        check = check.with_columns(conflict.alias(CONFLICT_COLUMN))
    return Prepared(bars=bars, check=check, collapsed=collapsed, order=order)


def failing_rows(prepared: Prepared) -> pl.Series:
    """Per input row: fails a row-level rule (a collapsed duplicate never does, its first copy speaks)."""
    failing = prepared.check.select(any_failing_expr().alias("failing"))["failing"]
    return failing if prepared.collapsed is None else failing & ~prepared.collapsed


def _gaps(prepared: Prepared, valid: pl.Series | None) -> list[Gap]:
    view = prepared.view(valid, [ROW_COLUMN, _SID, _TS_US, _TF_US])
    holes = view.filter((pl.col(STEP_COLUMN) > pl.col(_TF_US)).fill_null(False))
    holes = prepared.check[holes[ROW_COLUMN]].select(
        "symbol",
        (pl.col("ts") - pl.duration(microseconds=pl.lit(holes[STEP_COLUMN]))).alias("after"),
        pl.col("ts").alias("before"),
        (holes[STEP_COLUMN] // holes[_TF_US] - 1).alias("missing"),
    )
    return [
        Gap(symbol=symbol, after=after, before=before, missing_bars=int(missing))
        for symbol, after, before, missing in holes.iter_rows()
    ]


def wants_gx(requested: bool | None, rows: int) -> bool:
    """Whether an ingest runs the GX cross-check: as requested, else only where its import is paid off."""
    if requested is not None:
        return requested
    return "great_expectations" in sys.modules or rows >= GX_AUTO_ROWS


def validate_bars(
    frame: pl.DataFrame, timeframe: str | None = None, *, run_gx: bool = True
) -> ValidationReport:
    """Check a canonical bars frame against the bars rules; see the module docstring for how.

    ``timeframe`` (ccxt style) is the expected bar spacing; None takes each series' ``timeframe`` column.
    Raises ValidationError (one line) when the frame is not canonical or holds an unknown or unexpected
    timeframe; bad rows never raise, they come back in ``invalid``.
    """
    prepared = prepare(frame, timeframe)
    check, collapsed = prepared.check, prepared.collapsed
    failing = failing_rows(prepared)
    n_failing = int(failing.sum())
    if n_failing:
        rows = check.filter(failing).select(ROW_COLUMN, reasons_expr().alias("reason"))
        invalid = prepared.bars[rows[ROW_COLUMN]].with_columns(rows[ROW_COLUMN], rows["reason"])
    else:
        invalid = prepared.bars.clear().with_columns(
            pl.lit(None, pl.UInt32).alias(ROW_COLUMN), pl.lit(None, pl.String).alias("reason")
        )
    keep = ~failing if collapsed is None else ~failing & ~collapsed
    valid = prepared.bars if n_failing == 0 and collapsed is None else prepared.bars.filter(keep)
    gaps = _gaps(prepared, None if n_failing == 0 and collapsed is None else keep)
    expectations = []
    if run_gx and check.height:
        from torchtrader.quality.gx_run import run_suite

        expectations = run_suite(prepared, failing)
    if n_failing:
        log.info("%d of %d bars failed validation; first: row %s", n_failing, check.height, rows.row(0))
    return ValidationReport(
        valid=valid, invalid=invalid, gaps=gaps, expectations=expectations, success=n_failing == 0
    )
