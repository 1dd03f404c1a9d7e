"""Binance public-data kline dumps (https://data.binance.vision): CSV files and their ``.zip`` archives.

The documented format: one kline per line, 12 comma-separated fields and, in the published archives,
no header row (some re-exports add one: ``open_time,open,high,low,close,volume,close_time,...``)::

    open_time, open, high, low, close, volume, close_time, quote_volume, count,
    taker_buy_volume, taker_buy_quote_volume, ignore

Times are epoch milliseconds, except spot archives from 2025-01-01 on, which use microseconds; each
value's unit is read off its size (13 vs 16 digits), so a folder spanning the switch parses too.
Archives are named ``<SYMBOL>-<TIMEFRAME>-<YYYY-MM[-DD]>.zip`` and hold one CSV of the same stem.

This module only parses and checks *shape*: every problem that stops a line from being a kline (a
ragged or truncated line, text in a number field, a zip that is corrupt or not Binance's, another
symbol's or timeframe's file) raises ``DataError`` naming the file and line. Price sanity (high < low,
gaps) is the validation layer's job.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from torchtrader.errors import DataError, SourceError
from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.sources.base import Source, clip_range
from torchtrader.timeframes import timeframe_seconds

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_INT_COLUMNS = ("open_time", "close_time", "count", "ignore")
_SCHEMA = {name: pl.Int64() if name in _INT_COLUMNS else pl.Float64() for name in KLINE_COLUMNS}
_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<timeframe>\d+[smhdwM])-(?P<date>\d{4}-\d{2}(?:-\d{2})?)$")
_MICROS_MIN = 10**15  # 16-digit epoch values are microseconds (2001+ as µs, year 33658+ as ms)
_MILLIS_MIN = 10**11
SUFFIXES = (".csv", ".zip")


@dataclass(frozen=True)
class KlineFile:
    """One parsed dump file: canonical bars and the 1-based line of each row in the CSV."""

    path: Path
    frame: pl.DataFrame
    lines: npt.NDArray[np.int64]


def _fail(where: str, line: int | None, reason: str) -> DataError:
    return DataError(f"{where}: line {line}: {reason}" if line is not None else f"{where}: {reason}")


def looks_like_klines(raw: bytes) -> bool:
    """True when the first data line has Binance's 12 fields with an epoch open time (header optional)."""
    lines = raw.lstrip(b"\xef\xbb\xbf").splitlines()[:2]
    for line in lines:
        fields = line.decode("utf-8", errors="replace").strip().split(",")
        if len(fields) == len(KLINE_COLUMNS) and fields[0].strip().isdigit():
            return int(fields[0]) >= _MILLIS_MIN
        if [f.strip().lower() for f in fields] != list(KLINE_COLUMNS):
            return False
    return False


def parse_klines(
    raw: bytes, where: str, *, source: str, symbol: str, timeframe: str, check_timeframe: bool = True
) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    """Kline CSV bytes as canonical bars (file order) and file line numbers; DataError on bad shape."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():
        raise _fail(where, None, "empty kline file")
    first = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    has_header = not first[:1].isdigit()
    if has_header and [f.strip().lower() for f in first.split(",")] != list(KLINE_COLUMNS):
        raise _fail(
            where,
            1,
            f"not a Binance kline file: expected {len(KLINE_COLUMNS)} kline fields, got {first[:80]!r}",
        )
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    body = ends - starts > (data[np.maximum(ends - 1, 0)] == ord("\r")).astype(np.int64)
    if has_header:
        body[0] = False
    lines = np.flatnonzero(body).astype(np.int64) + 1
    commas = np.flatnonzero(data == ord(","))
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    ragged = body & (fields != len(KLINE_COLUMNS))
    if ragged.any():
        line = int(np.argmax(ragged))
        raise _fail(
            where,
            line + 1,
            f"expected {len(KLINE_COLUMNS)} kline fields, found {int(fields[line])} (truncated download?)",
        )
    try:
        klines = pl.read_csv(
            io.BytesIO(raw), has_header=has_header, new_columns=list(KLINE_COLUMNS), schema=_SCHEMA
        )
    except pl.exceptions.PolarsError:
        klines = pl.read_csv(
            io.BytesIO(raw), has_header=has_header, new_columns=list(KLINE_COLUMNS), infer_schema=False
        )
        _raise_first_bad_cell(klines, lines, where)
        raise  # unreachable: a cell that polars refused is also refused by the cast
    if klines.height != len(lines):
        raise _fail(
            where, None, f"read {klines.height} klines from {len(lines)} lines: not a Binance kline file"
        )
    nulls = klines.select(pl.any_horizontal(pl.all().is_null()).arg_true())
    if nulls.height:
        row = int(nulls.item(0, 0))
        raise _fail(where, int(lines[row]), "empty kline field (truncated download?)")
    frame = _to_bars(
        klines, where, lines, source=source, symbol=symbol, timeframe=timeframe, check=check_timeframe
    )
    return frame, lines


def _raise_first_bad_cell(text: pl.DataFrame, lines: npt.NDArray[np.int64], where: str) -> None:
    worst: tuple[int, str] | None = None
    for name, dtype in _SCHEMA.items():
        cast = text[name].str.strip_chars().cast(dtype, strict=False)
        bad = (cast.is_null() & text[name].is_not_null()).arg_true()
        if bad.len() and (worst is None or int(bad[0]) < worst[0]):
            worst = (int(bad[0]), f"cannot parse {name} {text[name][int(bad[0])]!r} as a number")
    if worst is not None:
        raise _fail(where, int(lines[worst[0]]), worst[1])


def _to_bars(
    klines: pl.DataFrame,
    where: str,
    lines: npt.NDArray[np.int64],
    *,
    source: str,
    symbol: str,
    timeframe: str,
    check: bool,
) -> pl.DataFrame:
    to_us = pl.when(pl.col("open_time") >= _MICROS_MIN).then(1).otherwise(1000)
    times = klines.select(
        (pl.col("open_time") * to_us).alias("open_us"),
        (pl.col("close_time") * pl.when(pl.col("close_time") >= _MICROS_MIN).then(1).otherwise(1000)).alias(
            "close_us"
        ),
        (pl.col("open_time") < _MILLIS_MIN).alias("too_small"),
    )
    small = times["too_small"].arg_true()
    if small.len():
        row = int(small[0])
        raise _fail(where, int(lines[row]), f"open time {klines['open_time'][row]} is not epoch ms or µs")
    if check:
        # Binance's close time is the last instant of the bar: open + length - 1 ms (or - 1 µs).
        length_us = timeframe_seconds(timeframe) * 1_000_000
        span = times["close_us"] - times["open_us"]
        wrong = ((span < length_us - 1000) | (span >= length_us)).arg_true()
        if wrong.len():
            row = int(wrong[0])
            held = int(span[row]) + 1
            raise _fail(
                where,
                int(lines[row]),
                f"kline spans {held / 1e6:g}s, not one {timeframe} bar (wrong --timeframe?)",
            )
    columns = klines.select("open", "high", "low", "close", "volume").with_columns(
        pl.lit(source, pl.String).alias("source"),
        pl.lit(symbol, pl.String).alias("symbol"),
        pl.lit(timeframe, pl.String).alias("timeframe"),
        pl.from_epoch(times["open_us"], time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
    )
    return columns.select(list(BARS_SCHEMA))


def read_bytes(path: Path) -> bytes:
    """The CSV bytes of a dump file: the file itself, or the single CSV inside a ``.zip`` archive."""
    try:
        if path.suffix.lower() != ".zip":
            return path.read_bytes()
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            csvs = [info for info in members if info.filename.lower().endswith(".csv")]
            if len(members) != 1 or len(csvs) != 1:
                names = ", ".join(info.filename for info in members[:3]) or "nothing"
                raise _fail(str(path), None, f"not a Binance kline archive: expected one .csv, holds {names}")
            return archive.read(csvs[0])
    except zipfile.BadZipFile as error:
        raise _fail(str(path), None, f"corrupt zip archive ({error}): download it again") from None
    except (OSError, EOFError, zipfile.LargeZipFile) as error:
        raise _fail(str(path), None, f"cannot read ({error})") from None
    except RuntimeError as error:  # encrypted members
        raise _fail(str(path), None, f"cannot read archive ({error})") from None


def dump_files(paths: Sequence[str | Path]) -> list[Path]:
    """The .csv/.zip files named or found (one level) in the folders given, sorted by name within each."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not inside:
                raise DataError(f"{path}: no .csv or .zip kline files in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def exchange_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``: how Binance names the symbol in its file names."""
    return symbol.replace("/", "").replace("-", "").upper()


def check_names(files: Iterable[Path], symbol: str, timeframe: str) -> None:
    """Refuse a file whose Binance-style name is another symbol's or timeframe's (before any write)."""
    wanted = exchange_symbol(symbol)
    for path in files:
        match = _NAME.match(path.stem)
        if match is None:
            continue  # renamed files are allowed; their contents are still checked
        if match["symbol"] != wanted:
            raise DataError(
                f"{path}: holds {match['symbol']} klines, not {wanted} (--symbol {symbol}); "
                "one symbol per ingest: move other symbols' files out of the folder"
            )
        if match["timeframe"] != timeframe:
            raise DataError(f"{path}: holds {match['timeframe']} klines, not --timeframe {timeframe}")


def read_dump(path: Path, *, symbol: str, timeframe: str, source: str) -> KlineFile:
    frame, lines = parse_klines(
        read_bytes(path), str(path), source=source, symbol=symbol, timeframe=timeframe
    )
    return KlineFile(path=path, frame=frame, lines=lines)


class BinanceDumpSource(Source):
    """Dump files as a source: ``get_source("binance-dump", paths=[...])``; fetch reads them all."""

    name: ClassVar[str] = "binance-dump"

    def __init__(self, paths: Sequence[str | Path] | None = None) -> None:
        if not paths:
            raise SourceError("the binance-dump source needs paths: get_source('binance-dump', paths=[...])")
        self.paths = [Path(p) for p in paths]

    def fetch(
        self, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
    ) -> pl.DataFrame:
        files = dump_files(self.paths)
        check_names(files, symbol, timeframe)
        frames = [read_dump(p, symbol=symbol, timeframe=timeframe, source=self.name).frame for p in files]
        return clip_range(pl.concat(frames), start, end)

    def __repr__(self) -> str:
        return f"BinanceDumpSource(paths={[str(p) for p in self.paths]!r})"
