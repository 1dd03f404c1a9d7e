"""Batched indicator kernels vs TA-Lib: one batched call for 100 windows vs 100 TA-Lib calls.

    .venv/bin/python -m bench.bench_indicators [--quick] [--bars N] [--windows B] [--device cpu|cuda]
        [--threads 1] [--kernels sma,ema,...] [--repeat R]

Both sides get the same float64 series (a seeded geometric random walk, OHLCV). TA-Lib runs single
threaded, one call per window; our kernel gets all windows at once as an int64 [B] tensor. On a CPU
two of our backends run: ``compiled`` (the default for CPU tensors: TA-Lib's recurrences compiled by
numba, several windows interleaved) and ``torch`` (the device-agnostic torch path, the one CUDA
runs). Calls alternate (TA-Lib, compiled, torch, TA-Lib, ...) and each keeps its best of ``--repeat``
after an untimed warm-up, so a busy spell of the machine hits all sides alike. "Per core" divides
our speed by the torch thread count (target: >= 1, at least TA-Lib's single-core speed per core).
Every result is checked against TA-Lib (first and last window, 1e-9) before its time counts.

Allocation is part of the work on both sides. glibc unmaps every freed block above 32 MiB, so an
800 MB result would be mapped and page-faulted afresh on every call while TA-Lib's 8 MB results are
recycled by malloc; the kernels therefore recycle their large results themselves (``_hostcache``).
The full run measures twice, in two processes: with glibc's defaults (what a user gets), and with
malloc recycling everything on both sides (``MALLOC_MMAP_MAX_=0``, no trimming). Writes
docs/benchmarks/indicators.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchtrader.indicators.kernels import backend
from torchtrader.indicators.parity import TWINS, as_arrays, discrepancy

KERNELS = ["sma", "ema", "wma", "rsi", "rolling_max", "mom", "atr", "willr", "bbands", "macd"]
# the rest of the kernels with a period: compiled path vs TA-Lib only
MORE = ["dema", "tema", "natr", "adx", "cci", "mfi", "stoch", "stochrsi", "roc", "rolling_min"]
RECYCLING_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**40)}


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
    if name == "stoch":
        fixed = {"slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0}
        return [{"fastk_period": p, **fixed} for p in periods]
    if name == "stochrsi":
        return [{"timeperiod": p, "fastk_period": 5, "fastd_period": 3, "fastd_matype": 0} for p in periods]
    return [{"timeperiod": p} for p in periods]


def _alternating(calls: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Best time of each call over ``repeat`` rounds that alternate between them (after a warm-up
    round: compilation, first-touch page faults and lazy initialisation are not what we compare)."""
    results = {name: call() for name, call in calls.items()}
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, call in calls.items():
            del results[name]
            start = time.perf_counter()
            results[name] = call()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def _on(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with backend(name):  # type: ignore[arg-type]
            return fn()

    return call


def run(bars: int, windows: int, device: str, repeat: int, kernels: list[str]) -> list[dict[str, Any]]:
    data = _bars(bars)
    rows = []
    threads = torch.get_num_threads() if device == "cpu" else 1
    for name in kernels:
        twin = TWINS[name]
        params = _params(name, windows)
        arrays = [data[i] for i in twin.inputs]
        tensors = [torch.tensor(a, device=device) for a in arrays]
        batched = {
            k: (torch.tensor([p[k] for p in params]) if k in twin.periods else v)
            for k, v in params[0].items()
        }
        ours = lambda: twin.kernel(*tensors, **batched)  # noqa: B023, E731
        calls = {"talib": lambda: [twin.talib_fn(*arrays, **p) for p in params]}  # noqa: B023
        calls |= {"compiled": _on("compiled", ours)} if device == "cpu" else {}
        # the torch path of the other kernels takes minutes on a CPU (CCI: one pass per lag)
        calls |= {"torch": _on("torch", ours)} if device == "cpu" and name in KERNELS else {}
        calls |= {"torch": ours} if device != "cpu" else {}
        best, results = _alternating(calls, repeat)
        reference = results.pop("talib")
        for backend_name, result in results.items():
            got = as_arrays(result)
            for row in (0, windows - 1):
                for i, ref in enumerate(as_arrays(reference[row])):
                    scale = float(np.max(np.abs(arrays[0])))
                    problem = discrepancy(got[i][row], ref, rtol=1e-9, scale=scale)
                    if problem:
                        raise SystemExit(f"{name} ({backend_name}) window {row} output {i}: {problem}")
        del results, reference
        row_ = {"kernel": name, "talib_s": best["talib"], "threads": threads}
        for key in ("compiled", "torch"):
            if key in best:
                row_[f"{key}_s"] = best[key]
                row_[f"{key}_per_core"] = best["talib"] / (best[key] * threads)
        rows.append(row_)
        shown = "  ".join(f"{k} {v:7.3f}s" for k, v in best.items())
        print(f"{name:12s} {shown}", flush=True)
    return rows


def _table(rows: list[dict[str, Any]], title: str) -> list[str]:
    keys = ("compiled", "torch") if any("compiled_s" in r for r in rows) else ("torch",)
    head = "| kernel | TA-Lib (s) |" + "".join(f" {k} (s) | per core |" for k in keys)
    lines = [title, "", head.replace("torch (s)", "torch path (s)"), "|---|---:|" + "---:|" * 2 * len(keys)]
    for r in rows:
        cells = [r["kernel"], f"{r['talib_s']:.3f}"]
        for key in keys:
            has = f"{key}_s" in r
            cells += [f"{r[f'{key}_s']:.3f}", f"{r[f'{key}_per_core']:.2f}"] if has else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def write_markdown(
    modes: dict[str, list[dict[str, Any]]], bars: int, windows: int, device: str, path: Path, load: str
) -> None:
    recycled, default = modes["recycle"], modes["default"]
    key = "compiled" if "compiled_s" in recycled[0] else "torch"
    met = [r["kernel"] for r in recycled if r[f"{key}_per_core"] >= 1.0]
    met_default = [r["kernel"] for r in default if r[f"{key}_per_core"] >= 1.0]
    lines = [
        "## Indicators: batched kernels vs TA-Lib",
        "",
        f"{windows} windows (periods 5, 7, ... {5 + 2 * (windows - 1)}) over {bars:,} float64 bars: TA-Lib "
        f"{windows} single-threaded calls vs one batched call on `{device}` "
        f"({recycled[0]['threads']} torch thread). Machine: {platform.machine()}, {os.cpu_count()} cores; "
        f"torch {torch.__version__}; load average {load} at the start. Calls alternate between the "
        "sides, best of the repeats after a warm-up; every result checked against TA-Lib (1e-9) "
        "before its time counts. `compiled` is the CPU default (TA-Lib's recurrences compiled by numba, "
        "four windows interleaved); `torch path` is the device-agnostic torch implementation (what CUDA "
        "runs), measured on the same CPU for comparison.",
        "",
        *_table(recycled, "**Memory recycled by malloc on both sides** (`MALLOC_MMAP_MAX_=0`, no trimming):"),
        f"Per core >= 1 ({key}): met for {', '.join(met) or 'none'}; "
        f"not met for {', '.join(r['kernel'] for r in recycled if r['kernel'] not in met) or 'none'}.",
        "",
        *_table(
            default,
            "**glibc defaults** (what a user gets: TA-Lib's 8 MB results recycled by malloc, our "
            "800 MB results by the kernels' buffer pool, `torchtrader/indicators/kernels/_hostcache.py`):",
        ),
        f"Per core >= 1 ({key}) with glibc defaults: met for {', '.join(met_default) or 'none'}; "
        f"not met for {', '.join(r['kernel'] for r in default if r['kernel'] not in met_default) or 'none'}.",
        "",
        "Notes:",
        "- A sequential recurrence does one multiply-add per value; the scans and prefix tables of the",
        "  torch path do tens, which only pays where thousands of cores run them (CUDA). The compiled",
        "  loops run TA-Lib's own arithmetic with four windows interleaved, so a core overlaps their",
        "  dependency chains; running sums restart from exact sums every 4096 bars (no drift).",
        "- SMA, WMA and MOM are bound by memory bandwidth on both sides: 100 x 1M float64 results are",
        "  800 MB to write (~0.1 s at the ~8 GB/s one core gets here), which both sides pay in full,",
        "  so per core they can only sit slightly above 1; the recurrences with more arithmetic per",
        "  value (EMA, RSI, ATR, WILLR) show what the interleaved loops gain. BBANDS and MACD write",
        "  three results each (2.4 GB): bandwidth sets their margin too.",
        "- ROLLING_MAX/MIN keep the torch path on CPU: one vectorised pass per row over shared sparse",
        "  tables beat a compiled scalar loop over the same tables (0.12 vs 0.16 s).",
        "- CCI's mean absolute deviation has no running form: O(period) per bar on both sides (8 s of",
        "  TA-Lib for 100 windows up to 203 bars); ours sums it with the compiler allowed to vectorise.",
        "- STOCHRSI is RSI followed by %K over RSI values that differ per window (no shared tables), so",
        "  its margin is the thinnest; STOCH, MFI and ADX gain from shared inputs and fused passes.",
        "- The torch path is timed for the first ten kernels only: for the rest it takes minutes on a",
        "  CPU (CCI: one pass per lag), which is why the compiled loops exist.",
        "- Before the compiled loops and the buffer pool (torch path only, fresh results, earlier",
        "  run of this bench): per core sma 1.13, ema 0.51, wma 0.39, rsi 0.41, rolling_max 1.20,",
        "  mom 0.62, atr 0.49, willr 0.48, bbands 0.43, macd 0.27.",
        "- Without the buffer pool (`TORCHTRADER_KERNEL_CACHE_MB=0`) each call pays ~0.05-0.1 s of",
        "  page faults for its fresh 800 MB result: SMA, WMA, MOM, ATR and ROLLING_MAX measured 0.8-0.9.",
        "- GPU (target >= 50x): the torch path is device-agnostic (`--device cuda`); not measured here",
        "  (no GPU machine was lent to this task).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _measure_in_child(mode: str, argv: list[str]) -> list[dict[str, Any]]:
    """Run one allocator mode in a fresh process (glibc reads its settings once, at start-up)."""
    env = dict(os.environ)
    for name in RECYCLING_MALLOC:
        env.pop(name, None)
    if mode == "recycle":
        env |= RECYCLING_MALLOC
    out = Path(f"/tmp/torchtrader-bench-indicators-{mode}-{os.getpid()}.json")
    command = [sys.executable, "-m", "bench.bench_indicators", *argv, "--json", str(out)]
    subprocess.run(command, env=env, check=True)
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    out.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k bars, 20 windows, one repeat")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/indicators.md"))
    parser.add_argument("--kernels", default=",".join(KERNELS + MORE), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the per-core figure)")
    parser.add_argument("--json", type=Path, help="measure in this process only, rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bars, windows, repeat = (100_000, 20, 1) if args.quick else (args.bars, args.windows, args.repeat)
    if args.quick or args.json:
        rows = run(bars, windows, args.device, repeat, args.kernels.split(","))
        if args.json:
            args.json.write_text(json.dumps(rows))
        return
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    argv = [a for a in sys.argv[1:] if a != "--quick"]
    modes = {}
    for mode in ("recycle", "default"):
        print(f"-- allocator: {mode}", flush=True)
        modes[mode] = _measure_in_child(mode, argv)
    write_markdown(modes, bars, windows, args.device, args.out, load)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
