"""Backfill throughput from Binance kline dumps, and start-up of the small data commands.

    python -m bench.bench_backfill [--months 12] [--skip-startup]

1. Writes one year of 1m klines (525,600 bars) as 12 monthly ``BTCUSDT-1m-YYYY-MM.zip`` archives in
   Binance's public-data format (headerless, 12 fields, ms times), then times, best of ``--repeat``:
   - ``pl.read_csv`` of the same archives (unzip + parse only: the floor);
   - ``ingest_binance_dump`` end to end into a fresh lake (parse, checks, validation, upsert), in-process;
   - ``torchtrader ingest binance-dump`` as a whole process.
2. Whole-process start-up: ``torchtrader ingest csv`` of a 2-row CSV and ``torchtrader data list``.
Results print as a markdown table (copied into docs/benchmarks/data.md).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from torchtrader.sources.binance_dump import KLINE_COLUMNS

MINUTE_MS = 60_000
CLI = str(Path(sys.executable).parent / "torchtrader")  # the installed console script


def write_year(folder: Path, months: int, seed: int = 1) -> int:
    """``months`` monthly archives of 1m klines from 2023-01; returns the number of bars."""
    rng = np.random.default_rng(seed)
    total, price = 0, 20_000.0
    for month in range(1, months + 1):
        start = datetime(2023, month, 1, tzinfo=UTC)
        stop = datetime(2023 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        opens = np.arange(int(start.timestamp() * 1000), int(stop.timestamp() * 1000), MINUTE_MS)
        n = len(opens)
        close = price * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
        open_ = np.concatenate(([price], close[:-1]))
        price = float(close[-1])
        wiggle = np.abs(rng.normal(0, 2e-4, n)) * close
        volume = np.abs(rng.normal(30, 10, n))
        frame = pl.DataFrame(
            {
                "open_time": opens,
                "open": open_.round(2),
                "high": (np.maximum(open_, close) + wiggle).round(2),
                "low": (np.minimum(open_, close) - wiggle).round(2),
                "close": close.round(2),
                "volume": volume.round(5),
                "close_time": opens + MINUTE_MS - 1,
                "quote_volume": (volume * close).round(5),
                "count": (volume * 40).astype(np.int64),
                "taker_buy_volume": (volume / 2).round(5),
                "taker_buy_quote_volume": (volume * close / 2).round(5),
                "ignore": np.zeros(n, dtype=np.int64),
            }
        )
        text = io.BytesIO()
        frame.write_csv(text, include_header=False)
        name = f"BTCUSDT-1m-2023-{month:02d}"
        with zipfile.ZipFile(folder / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", text.getvalue())
        total += n
    return total


def read_floor(folder: Path) -> int:
    rows = 0
    for path in sorted(folder.glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(archive.namelist()[0])
        rows += pl.read_csv(io.BytesIO(raw), has_header=False, new_columns=list(KLINE_COLUMNS)).height
    return rows


def ingest_in_process(folder: Path, lake_root: Path) -> int:
    from torchtrader.ingest import ingest_binance_dump
    from torchtrader.lake import Lake

    report = ingest_binance_dump(Lake(str(lake_root)), [folder], symbol="BTC/USDT", timeframe="1m")
    return report.rows_added


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return min(times)


def cli_seconds(args: list[str], env: dict[str, str], repeat: int) -> str:
    """Median wall and CPU (user + sys) seconds of a whole ``torchtrader`` process.

    CPU time is reported too because on a shared, loaded machine wall time mostly measures the queue.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run([CLI, *args], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        root = Path(tmp)
        dumps = root / "dumps"
        dumps.mkdir()
        bars = write_year(dumps, args.months)
        size = sum(p.stat().st_size for p in dumps.glob("*.zip")) / 2**20
        floor = best(lambda: read_floor(dumps), args.repeat)
        counter = iter(range(100))
        ingest = best(lambda: ingest_in_process(dumps, root / f"lake{next(counter)}"), args.repeat)
        env = {**os.environ, "TORCHTRADER_LAKE": str(root / "cli-lake")}
        began = time.perf_counter()
        subprocess.run(
            [CLI, "ingest", "binance-dump", str(dumps),
             "--symbol", "BTC/USDT", "--timeframe", "1m"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        process = time.perf_counter() - began
        rate = lambda seconds: f"{seconds:.2f} s = {bars / seconds / 1e6:.2f} M bars/s"  # noqa: E731
        rows += [
            (f"bars ({args.months} monthly zips)", f"{bars:,} ({size:.1f} MiB zipped)"),
            ("`pl.read_csv` of the archives (floor)", rate(floor)),
            ("`ingest_binance_dump` in-process, fresh lake", f"{rate(ingest)} ({ingest / floor:.1f}x floor)"),
            ("`torchtrader ingest binance-dump`, whole process", rate(process)),
        ]
        if not args.skip_startup:
            two = root / "two.csv"
            two.write_text(
                "date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1.5,2,1,1.8,12\n"
            )
            small_env = {**os.environ, "TORCHTRADER_LAKE": str(root / "small-lake")}
            small = cli_seconds(["ingest", "csv", str(two), "--symbol", "X"], small_env, args.repeat)
            listed = cli_seconds(["data", "list"], small_env, args.repeat)
            helped = cli_seconds(["--help"], small_env, args.repeat)
            rows += [
                ("`torchtrader ingest csv` 2 rows, whole process (median)", small),
                ("`torchtrader data list`, whole process (median)", listed),
                ("`torchtrader --help`, whole process (median, for reference)", helped),
                ("load average while measuring", " / ".join(f"{x:.1f}" for x in os.getloadavg())),
            ]
    print("| measure | result |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
