"""Regenerate the Binance kline dump fixtures: ``python tests/data/binance/make_fixtures.py``.

Layout and format follow https://github.com/binance/binance-public-data (spot klines): files named
``<SYMBOL>-<INTERVAL>-<DATE>``, one kline per line, 12 fields, no header; open/close times in
milliseconds before 2025-01-01 and microseconds from then on. Values are a seeded random walk.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def kline_lines(
    start: datetime, n: int, step: timedelta, *, micros: bool, seed: int, price: float
) -> list[str]:
    rng = np.random.default_rng(seed)
    close = price + np.cumsum(rng.normal(0, 5, n))
    unit = 1_000_000 if micros else 1000
    lines = []
    for i in range(n):
        o = close[i - 1] if i else price
        c = close[i]
        h, lo = max(o, c) + abs(rng.normal(0, 2)), min(o, c) - abs(rng.normal(0, 2))
        v = abs(rng.normal(30, 10))
        t = int((start + i * step).timestamp() * unit)
        close_t = t + int(step.total_seconds() * unit) - 1
        lines.append(
            f"{t},{o:.8f},{h:.8f},{lo:.8f},{c:.8f},{v:.8f},{close_t},{v * c:.8f},{int(v * 40)},"
            f"{v / 2:.8f},{v * c / 2:.8f},0"
        )
    return lines


def write(path: Path, lines: list[str], *, header: bool = False, zipped: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(([HEADER] if header else []) + lines) + "\n"
    if zipped:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.with_suffix(".csv").name, text)
    else:
        path.write_text(text)


def main() -> None:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    eve, new_year = datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    good = HERE / "good"
    write(
        good / "BTCUSDT-1m-2024-12-31.zip",
        kline_lines(eve, 60, minute, micros=False, seed=1, price=93000),
        zipped=True,
    )
    write(
        good / "BTCUSDT-1m-2025-01-01.zip",
        kline_lines(new_year, 60, minute, micros=True, seed=2, price=93500),
        zipped=True,
    )
    write(
        HERE / "header" / "BTCUSDT-1h-2024-01.csv",
        kline_lines(datetime(2024, 1, 1, tzinfo=UTC), 48, hour, micros=False, seed=3, price=42000),
        header=True,
    )
    day = datetime(2024, 1, 2, tzinfo=UTC)
    bad = HERE / "bad"
    write(
        bad / "corrupt" / "BTCUSDT-1m-2024-01-02.zip",
        kline_lines(day, 30, minute, micros=False, seed=4, price=45000),
        zipped=True,
    )
    corrupt = (bad / "corrupt" / "BTCUSDT-1m-2024-01-02.zip").read_bytes()
    (bad / "corrupt" / "BTCUSDT-1m-2024-01-02.zip").write_bytes(corrupt[: len(corrupt) // 2])  # cut download
    truncated = kline_lines(day, 30, minute, micros=False, seed=5, price=45000)
    truncated[-1] = truncated[-1][: len(truncated[-1]) // 2]  # the download stopped mid-line
    write(bad / "truncated" / "BTCUSDT-1m-2024-01-02.csv", truncated)
    write(
        bad / "mixed" / "BTCUSDT-1m-2024-01-02.csv",
        kline_lines(day, 30, minute, micros=False, seed=6, price=45000),
    )
    write(
        bad / "mixed" / "ETHUSDT-1m-2024-01-02.csv",
        kline_lines(day, 30, minute, micros=False, seed=7, price=2400),
    )
    with zipfile.ZipFile(bad / "not_binance.zip", "w") as archive:
        archive.writestr(
            "SPY.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,472.16,473.67,470.49,472.65,123623700\n"
        )


if __name__ == "__main__":
    main()
