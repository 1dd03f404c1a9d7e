"""CSV bars: the ``torchtrader ingest csv`` contract.

Also Binance public-data kline dumps (12 headerless fields, see ``binance_dump``), detected from the
first line. Otherwise: a header row; columns ``timestamp`` (or ``date``/``datetime``/``time``), open,
high, low, close, volume, matched case-insensitively (extra columns are ignored); timestamps are
ISO-8601 dates or datetimes (with or without a UTC offset; naive means UTC) or epoch milliseconds.

This module only *parses*. Anything that stops a row from becoming a typed bar (missing column, text
where a number belongs, an unreadable date, a ragged line, mixed timezones) raises ``DataError`` naming
the file, the first bad line and the reason. Value-level problems (NaN, high < low, duplicates, gaps)
are left for the validation layer, which maps its row indices back to file lines through
``CsvRead.lines``.

Speed: the file is read once by polars as strings and parsed with vectorised casts; line numbers come
from a numpy scan of the newlines. Files with quoted fields take a slower, exact path through the
standard ``csv`` module, because a quoted field may span lines.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from torchtrader.errors import DataError, SourceError
from torchtrader.lake.schema import to_canonical_bars
from torchtrader.sources.base import Source, clip_range

TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")

_ISO = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
# Epoch values below this are 1973+ dates as *seconds* (or compact YYYYMMDD dates) but 1970 as
# milliseconds: refusing them beats silently storing bars dated 1970.
_EPOCH_MS_MIN = 10**11


@dataclass(frozen=True)
class CsvRead:
    """A parsed CSV: canonical bars in file order and the 1-based file line of each row (header = 1)."""

    frame: pl.DataFrame
    lines: npt.NDArray[np.int64]


def _fail(path: Path, line: int, reason: str) -> DataError:
    return DataError(f"{path}: line {line}: {reason}")


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise _fail(path, line, "not UTF-8 text") from None


def _read_fast(path: Path, raw: bytes) -> tuple[pl.DataFrame, npt.NDArray[np.int64]] | None:
    """Quote-free files: polars parses, numpy finds each row's line (and, if counts disagree, the ragged one).

    None means "let the exact path decide" (polars refused the bytes, or the two disagree on rows).
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    lengths = ends - starts
    # A line is blank when it holds nothing but an optional carriage return.
    trailing_cr = np.zeros(len(starts), dtype=bool)
    nonempty = lengths > 0
    trailing_cr[nonempty] = data[ends[nonempty] - 1] == ord("\r")
    blank = (lengths == 0) | ((lengths == 1) & trailing_cr)
    if blank[0]:
        return None  # leading blank lines: polars and the scan may disagree on where the header is
    body = ~blank
    body[0] = False
    expected = int(np.count_nonzero(data[: ends[0]] == ord(","))) + 1
    # Cheap whole-file check first; a ragged line changes the total unless another line has extra
    # fields, which polars refuses anyway. Only on a mismatch count fields line by line.
    if int(np.count_nonzero(data == ord(","))) != (expected - 1) * (int(body.sum()) + 1):
        commas = np.flatnonzero(data == ord(","))
        fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
        ragged = body & (fields != expected)
        if ragged.any():
            first = int(np.argmax(ragged))
            raise _fail(
                path, first + 1, f"expected {expected} fields like the header, found {int(fields[first])}"
            )
    header = raw[: ends[0]].decode("utf-8", errors="replace").rstrip("\r").split(",")
    picked = _pick_columns(path, header)
    # Numbers typed by polars' reader are ~3x faster than strings cast afterwards; if any cell refuses,
    # re-read as strings so the per-cell checks can name the first bad line.
    typed = {picked[name]: pl.Float64() for name in VALUE_COLUMNS}
    try:
        frame = pl.read_csv(io.BytesIO(raw), infer_schema=False, schema_overrides=typed, raise_if_empty=False)
    except pl.exceptions.PolarsError:
        try:
            frame = pl.read_csv(io.BytesIO(raw), infer_schema=False, raise_if_empty=False)
        except pl.exceptions.PolarsError:
            return None
    lines = np.arange(1, len(starts) + 1, dtype=np.int64)[body]
    if frame.height != len(lines) and frame.width:
        frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # polars keeps blank lines as null rows
    if frame.height != len(lines):
        return None
    return frame, lines


def _read_exact(path: Path, text: str) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    """Any RFC-4180 file, quoted multi-line fields included, with exact line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        line_before = 0
        for record in reader:
            first_line = line_before + 1
            line_before = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            if header is None:
                header = record
                continue
            if len(record) != len(header):
                raise _fail(
                    path, first_line, f"expected {len(header)} fields like the header, found {len(record)}"
                )
            rows.append(record)
            lines.append(first_line)
    except csv.Error as error:
        raise _fail(path, reader.line_num, f"malformed CSV ({error})") from None
    assert header is not None
    columns = _unique_names(header)
    frame = pl.DataFrame(
        {name: [row[i] or None for row in rows] for i, name in enumerate(columns)},
        schema=dict.fromkeys(columns, pl.String()),
    )
    return frame, np.asarray(lines, dtype=np.int64)


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_duplicated_{count - 1}")
    return names


def _pick_columns(path: Path, header: list[str]) -> dict[str, str]:
    """Map each canonical column to the file's column name (case-insensitive, spaces trimmed)."""
    by_lower: dict[str, list[str]] = {}
    for name in header:
        by_lower.setdefault(name.strip().lower(), []).append(name)
    picked: dict[str, str] = {}
    for wanted in VALUE_COLUMNS:
        if len(by_lower.get(wanted, [])) > 1:
            raise _fail(path, 1, f"ambiguous columns {', '.join(by_lower[wanted])}: keep one")
        if wanted in by_lower:
            picked[wanted] = by_lower[wanted][0]
    time_column = next((by_lower[name][0] for name in TIME_COLUMNS if name in by_lower), None)
    missing = [name for name in VALUE_COLUMNS if name not in picked]
    if time_column is None:
        missing.insert(0, "timestamp (or date/datetime/time)")
    if missing:
        raise _fail(
            path,
            1,
            f"missing column(s) {', '.join(missing)}; header has {', '.join(header)} "
            "(formats tried: torchtrader CSV with a header, Binance kline dump with 12 fields)",
        )
    assert time_column is not None
    picked["ts"] = time_column
    return picked


def _first(mask: pl.Series) -> int | None:
    """Index of the first True in a boolean series (nulls count as False)."""
    hits = mask.fill_null(False).arg_true()
    return int(hits[0]) if len(hits) else None


def _parse_numbers(
    frame: pl.DataFrame, picked: dict[str, str]
) -> tuple[pl.DataFrame, tuple[int, str] | None]:
    parsed = frame.select(
        pl.col(picked[name]).cast(pl.Float64, strict=False).alias(name) for name in VALUE_COLUMNS
    )
    if all(parsed[name].null_count() == frame[picked[name]].null_count() for name in VALUE_COLUMNS):
        return parsed, None  # every non-empty cell parsed as it was: the common case, no per-cell work
    parsed = frame.select(
        pl.col(picked[name]).str.strip_chars().cast(pl.Float64, strict=False).alias(name)
        for name in VALUE_COLUMNS
    )
    worst: tuple[int, str] | None = None
    for name in VALUE_COLUMNS:
        stripped = frame[picked[name]].str.strip_chars()
        bad = _first(stripped.is_not_null() & (stripped != "") & parsed[name].is_null())
        if bad is not None and (worst is None or bad < worst[0]):
            worst = (bad, f"cannot parse {name} {stripped[bad]!r} as a number")
    return parsed, worst


def _uniform_timestamps(raw: pl.Series) -> pl.Series | None:
    """Fast path for a column written in one format throughout (what exporters produce).

    The format is read off the first value; the whole column must then parse with it, with one shared
    UTC offset. Anything else (mixed formats, padding, bad values) returns None for the exact path,
    which finds and explains the first offending line.
    """
    first = raw[0]
    if first is None:
        return None
    if first.isdigit():
        epoch = raw.cast(pl.Int64, strict=False)
        if epoch.null_count() or epoch.min() < _EPOCH_MS_MIN:  # type: ignore[operator]
            return None
        return pl.select(pl.from_epoch(epoch, time_unit="ms").dt.replace_time_zone("UTC")).to_series()
    match = re.match(_ISO, first)
    if match is None:
        return None
    _, clock, zone = match.groups()
    core, offset = raw, 0
    if zone is not None:
        if not raw.str.ends_with(zone).all():
            return None
        core = raw.str.strip_suffix(zone)
        digits = re.sub(r"[^0-9]", "", zone)
        offset = (-1 if zone.startswith("-") else 1) * (int(digits[:2] or 0) * 60 + int(digits[2:4] or 0))
    fmt = "%Y-%m-%d"
    if clock is not None:
        # chrono parses whole seconds ~3x faster without "%.f"; a later fractional value falls back
        seconds = (":%S%.f" if "." in clock else ":%S") if len(clock) > 5 else ""
        fmt += first[10] + "%H:%M" + seconds
    parsed = core.str.to_datetime(fmt, strict=False, time_unit="us")
    if parsed.null_count():
        return None
    return (parsed - timedelta(minutes=offset)).dt.replace_time_zone("UTC")


def _parse_timestamps(raw: pl.Series) -> tuple[pl.Series, tuple[int, str] | None]:
    """UTC timestamps and the first row that is unreadable or breaks the file's timezone convention."""
    uniform = _uniform_timestamps(raw)
    if uniform is not None:
        return uniform, None
    text = raw.str.strip_chars()
    is_epoch = text.str.contains(r"^\d+$").fill_null(False)
    parts = text.str.extract_groups(_ISO).struct.unnest()
    day, clock, zone = parts[parts.columns[0]], parts[parts.columns[1]], parts[parts.columns[2]]
    helper = pl.DataFrame(
        {"day": day, "zone": zone, "epoch": text.cast(pl.Int64, strict=False), "is_epoch": is_epoch}
    ).with_columns(
        clock=pl.when(clock.is_null())
        .then(pl.lit("00:00:00"))
        .when(clock.str.len_chars() == 5)
        .then(clock + ":00")
        .otherwise(clock)
    )
    sign = pl.when(pl.col("zone").str.starts_with("-")).then(-1).otherwise(1)
    digits = pl.col("zone").str.replace_all(r"[^0-9]", "")
    offset_minutes = (
        pl.when(pl.col("zone").is_null() | pl.col("zone").str.to_uppercase().eq("Z"))
        .then(0)
        .otherwise(
            sign
            * (
                digits.str.slice(0, 2).cast(pl.Int64) * 60
                + pl.when(digits.str.len_chars() > 2).then(digits.str.slice(2, 2).cast(pl.Int64)).otherwise(0)
            )
        )
    )
    label = (
        pl.when(pl.col("zone").is_null())
        .then(pl.lit("naive"))
        .otherwise(
            pl.format(
                "{}{}:{}",
                pl.when(offset_minutes < 0).then(pl.lit("-")).otherwise(pl.lit("+")),
                (offset_minutes.abs() // 60).cast(pl.String).str.zfill(2),
                (offset_minutes.abs() % 60).cast(pl.String).str.zfill(2),
            )
        )
    )
    local = (pl.col("day") + "T" + pl.col("clock")).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"
    )
    from_epoch = pl.from_epoch(pl.col("epoch"), time_unit="ms")
    result = helper.select(
        ts=pl.when(pl.col("is_epoch"))
        .then(from_epoch)
        .otherwise(local - pl.duration(minutes=offset_minutes))
        .dt.replace_time_zone("UTC"),
        kind=pl.when(pl.col("is_epoch")).then(pl.lit("epoch")).otherwise(label),
    )
    ts, kind = result["ts"], result["kind"]

    issues: list[tuple[int, str]] = []
    bad = _first(ts.is_null())
    if bad is not None:
        value = raw[bad]
        issues.append((bad, "empty timestamp" if not value else f"cannot parse timestamp {value!r}"))
    seconds = _first(is_epoch & (helper["epoch"] < _EPOCH_MS_MIN))
    if seconds is not None:
        issues.append(
            (seconds, f"timestamp {text[seconds]} is too small for epoch milliseconds (seconds? YYYYMMDD?)")
        )
    issues.extend(_mixed_zones(kind.filter(ts.is_not_null()), ts.is_not_null()))
    return ts, min(issues) if issues else None


def _mixed_zones(kinds: pl.Series, parsed: pl.Series) -> list[tuple[int, str]]:
    """The first parsed row whose timezone convention differs from the first parsed row's."""
    if kinds.is_empty():
        return []
    positions = parsed.arg_true()
    reference = kinds[0]
    differs = _first(kinds != reference)
    if differs is None:
        return []

    def describe(kind: str) -> str:
        if kind == "epoch":
            return "epoch milliseconds"
        return "no UTC offset" if kind == "naive" else f"offset {kind}"

    row = int(positions[differs])
    return [
        (row, f"mixed timezones: {describe(kinds[differs])} here but {describe(reference)} on the first row")
    ]


def read_csv_bars(path: str | Path, *, symbol: str, timeframe: str = "1d", source: str = "csv") -> CsvRead:
    """Parse a bars CSV into canonical bars (file order) and file line numbers; DataError on bad input."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise DataError(f"{file}: cannot read file ({error.strerror or error})") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheet exports write
    if not raw or raw.isspace():
        raise _fail(file, 1, "empty file: expected a header row and data rows")
    from torchtrader.sources.binance_dump import looks_like_klines, parse_klines

    if looks_like_klines(raw):  # a Binance public-data kline file: headerless, 12 fields
        frame, lines = parse_klines(raw, str(file), source=source, symbol=symbol, timeframe=timeframe)
        return CsvRead(frame=frame, lines=lines)
    fast = None if b'"' in raw else _read_fast(file, raw)
    frame, lines = fast if fast is not None else _read_exact(file, _decode(file, raw))
    picked = _pick_columns(file, frame.columns)
    if frame.height == 0:
        raise _fail(file, 1, "header only: no data rows")
    ts, ts_issue = _parse_timestamps(frame[picked["ts"]].cast(pl.String))
    numbers, number_issue = _parse_numbers(frame, picked)
    issues = [issue for issue in (ts_issue, number_issue) if issue is not None]
    if issues:
        row, reason = min(issues)
        raise _fail(file, int(lines[row]), reason)
    bars = to_canonical_bars(numbers.with_columns(ts=ts), source=source, symbol=symbol, timeframe=timeframe)
    return CsvRead(frame=bars, lines=lines)


class CsvSource(Source):
    """One CSV file as a source (``get_source("csv", path=...)``); fetch returns its rows sorted by ts."""

    name: ClassVar[str] = "csv"

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            raise SourceError("the csv source needs a path: get_source('csv', path='bars.csv')")
        self.path = Path(path)

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        read = read_csv_bars(self.path, symbol=symbol, timeframe=timeframe, source=self.name)
        return clip_range(read.frame, start, end)

    def __repr__(self) -> str:
        return f"CsvSource(path={str(self.path)!r})"
