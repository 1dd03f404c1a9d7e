"""Torch indicator kernels vs TA-Lib: one batched call for 100 windows vs 100 TA-Lib calls.

    .venv/bin/python -m bench.bench_indicators [--quick] [--bars N] [--windows B] [--device cpu|cuda]

Both sides get the same float64 series (a seeded geometric random walk, OHLCV). TA-Lib runs single
threaded, one call per window; the torch kernel gets all windows at once as an int64 [B] tensor
and may use every thread torch is allowed. "Per core" divides the torch speed by its thread count
(target: >= 1, i.e. at least TA-Lib's single-core speed per core). Every torch result is checked
against TA-Lib (first and last window) before its time counts. Writes docs/benchmarks/indicators.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchtrader.indicators.parity import TWINS, as_arrays, discrepancy

KERNELS = ["sma", "ema", "wma", "rsi", "rolling_max", "mom", "atr", "willr", "bbands", "macd"]


def _bars(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Minute-bar-like prices: 0.05% moves, so 1M bars stay within a realistic price range."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n)))
    spread = np.abs(rng.normal(0.0, 0.005, n)) * close
    return {
        "close": close,
        "high": close + spread,
        "low": close - spread * rng.uniform(0.2, 1.0, n),
        "volume": rng.uniform(1e3, 1e6, n),
    }


def _params(name: str, windows: int) -> list[dict[str, Any]]:
    periods = [5 + 2 * i for i in range(windows)]
    if name == "macd":
        return [{"fastperiod": 12, "slowperiod": p + 14, "signalperiod": 9} for p in periods]
    if name == "bbands":
        return [{"timeperiod": p, "nbdevup": 2.0, "nbdevdn": 2.0} for p in periods]
    return [{"timeperiod": p} for p in periods]


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best of ``repeat`` timed runs after one untimed warm-up run (first-touch page faults, lazy
    initialisation and a busy machine otherwise dominate single runs)."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        del result
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(
    bars: int, windows: int, device: str, repeat: int, kernels: list[str] = KERNELS
) -> list[dict[str, Any]]:
    data = _bars(bars)
    rows = []
    for name in kernels:
        twin = TWINS[name]
        params = _params(name, windows)
        arrays = [data[i] for i in twin.inputs]
        tensors = [torch.tensor(a, device=device) for a in arrays]
        batched = {
            k: (torch.tensor([p[k] for p in params]) if k in twin.periods else v)
            for k, v in params[0].items()
        }
        talib_s, reference = _timed(lambda: [twin.talib_fn(*arrays, **p) for p in params], repeat)  # noqa: B023
        torch_s, ours = _timed(lambda: twin.kernel(*tensors, **batched), repeat)  # noqa: B023
        got = as_arrays(ours)
        for row in (0, windows - 1):
            for i, ref in enumerate(as_arrays(reference[row])):
                problem = discrepancy(got[i][row], ref, rtol=1e-9, scale=float(np.max(np.abs(arrays[0]))))
                if problem:
                    raise SystemExit(f"{name} window {row} output {i} differs from TA-Lib: {problem}")
        threads = torch.get_num_threads() if device == "cpu" else 1
        rows.append(
            {
                "kernel": name,
                "talib_s": talib_s,
                "torch_s": torch_s,
                "speedup": talib_s / torch_s,
                "per_core": talib_s / (torch_s * threads) if device == "cpu" else float("nan"),
            }
        )
        print(
            f"{name:12s} talib {talib_s:8.3f}s  torch {torch_s:8.3f}s  x{talib_s / torch_s:6.2f}", flush=True
        )
        del ours, got, reference
    return rows


def write_markdown(rows: list[dict[str, Any]], bars: int, windows: int, device: str, path: Path) -> None:
    threads = torch.get_num_threads()
    lines = [
        "## Indicators: batched torch kernels vs TA-Lib",
        "",
        f"{windows} windows (periods 5, 7, ... {5 + 2 * (windows - 1)}) over {bars:,} float64 bars; TA-Lib "
        f"{windows} single-threaded calls vs one batched torch call on `{device}` ({threads} torch threads). "
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; torch {torch.__version__}. "
        "Best of the repeats after an untimed warm-up run; every torch result checked against TA-Lib "
        "(1e-9) before its time counts.",
        "",
        "| kernel | TA-Lib (s) | torch (s) | speed-up | per core (target >= 1) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kernel']} | {r['talib_s']:.3f} | {r['torch_s']:.3f} | {r['speedup']:.2f}x "
            f"| {r['per_core']:.2f} |"
        )
    met = [r["kernel"] for r in rows if r["per_core"] >= 1.0]
    lines += [
        "",
        f"Target (per core >= 1 on CPU) met for: {', '.join(met) if met else 'none'}; "
        "not met for the others.",
        "",
        "Notes:",
        "- Run with `OMP_NUM_THREADS=1`: on this shared 2-core machine (other jobs running), torch's two",
        "  OpenMP threads spin against each other and the other jobs and ran ~10x slower than one thread,",
        "  so one thread is the fair per-core comparison.",
        "- Window kernels come closest (MAX via a sparse table, SMA via one float64 prefix sum and a sliced",
        "  subtraction per window): one or two passes over the output where TA-Lib makes one.",
        "- Without the warm-up run, TA-Lib's first batch (first-touch page faults) measured 1.5-3.4 s",
        "  for SMA and made torch look 3x faster: ignore such single-run numbers.",
        "- Recursive indicators (EMA, RSI, ATR, ADX, MACD) run as a blocked closed-form scan",
        "  (`y = P * cumsum(u / P)` per 64-bar block + a recursive carry); that is several memory-bound",
        "  passes over [B, T] against TA-Lib's one tight loop, so on CPU they are slower per core. WMA",
        "  and BBANDS pay for exactness (periodic exact restarts, two-pass variance for short windows).",
        "- GPU (target >= 50x): the code path is device-agnostic (`--device cuda`), not measured here",
        "  (no GPU in this session).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k bars, 20 windows, one repeat")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/indicators.md"))
    parser.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the per-core figure)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bars, windows, repeat = (100_000, 20, 1) if args.quick else (args.bars, args.windows, args.repeat)
    rows = run(bars, windows, args.device, repeat, args.kernels.split(","))
    if not args.quick:
        write_markdown(rows, bars, windows, args.device, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
