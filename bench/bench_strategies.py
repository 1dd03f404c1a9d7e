"""Strategy positions for a parameter grid: one batched call vs one call per combo vs vectorbt.

    .venv/bin/python -m bench.bench_strategies [--quick]

The workload of a sweep's first step: ``sma_cross`` positions for every (fast, slow) combination of a
grid on the S&P 500 sample (5031 daily bars, float64, CPU). Peers in the same run:
- torchtrader batched: ``run_positions`` once for the whole grid ([combos, T]; each distinct SMA period
  computed once via ``by_unique``);
- torchtrader per combo: ``run_positions`` with batch = 1 in a loop (what a naive engine would do);
- vectorbt 1.2: ``MA.run`` for the fast and slow windows + ``ma_crossed_above/below`` — entry/exit
  signals only, it does not hold them into a position (our timings include that step).
Each peer's entry counts are checked against ours. Writes docs/benchmarks/strategies.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchtrader.strategies import Bars, ParamBatch, builtin_strategies, grid, run_positions
from torchtrader.testing.market import sample_bars, sample_frame

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "strategies.md"


def best_of(repeats: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def load_bars() -> Bars:
    return sample_bars("SPX")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a 10 × 10 grid: a smoke run, not numbers to quote"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # per-core numbers: the machine is shared and vectorbt runs on one core
    fasts = list(range(2, 101, 10)) if args.quick else list(range(2, 101, 2))
    slows = list(range(10, 401, 40)) if args.quick else list(range(10, 401, 10))
    cls = builtin_strategies()["sma_cross"]
    combos = grid(cls, {"fast": fasts, "slow": slows})
    bars = load_bars()
    batch = ParamBatch.from_params(combos)
    strategy = cls()

    batched = run_positions(strategy, bars, batch)
    t_batched = best_of(3, lambda: run_positions(strategy, bars, batch))
    singles = [ParamBatch.from_params([p]) for p in combos]
    t_loop = best_of(1, lambda: [run_positions(strategy, bars, one) for one in singles])
    ours_entries = ((batched[:, 1:] - batched[:, :-1]) > 0).sum(dim=1).numpy()

    vbt_time: float | None = None
    vbt_match: bool | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import vectorbt as vbt

            close = sample_frame("SPX").to_pandas().set_index("ts")["close"]
            fast_w = [p.model_dump()["fast"] for p in combos]
            slow_w = [p.model_dump()["slow"] for p in combos]

            def run_vbt() -> Any:
                fast = vbt.MA.run(close, window=fast_w, short_name="fast")
                slow = vbt.MA.run(close, window=slow_w, short_name="slow")
                return fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)

            entries, _ = run_vbt()  # numba compiles on the first call: not timed
            vbt_time = best_of(3, run_vbt)
            vbt_match = bool(np.array_equal(entries.to_numpy().sum(axis=0), ours_entries))
    except ImportError:
        pass

    n = len(combos)
    rows = [
        ("torchtrader batched (one call)", t_batched, "positions"),
        ("torchtrader per combo (batch = 1 loop)", t_loop, "positions"),
    ]
    if vbt_time is not None:
        rows.append(("vectorbt 1.2 MA.run + crossed_above/below", vbt_time, "entry/exit signals only"))
    lines = [
        "## Strategies: positions for a parameter grid",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.bench_strategies"
        f"{' --quick' if args.quick else ''}`; one CPU thread, float64.",
        f"`sma_cross` on the S&P 500 sample ({len(bars)} daily bars), grid fast {fasts[0]}..{fasts[-1]} × "
        f"slow {slows[0]}..{slows[-1]}: {n} valid combos (fast < slow).",
        "",
        "| peer | seconds | combos/s | output |",
        "|---|---:|---:|---|",
        *[f"| {name} | {secs:.3f} | {n / secs:,.0f} | {what} |" for name, secs, what in rows],
        "",
        f"Batched vs per-combo loop: **{t_loop / t_batched:.1f}×**."
        + (f" Batched vs vectorbt: **{vbt_time / t_batched:.1f}×**." if vbt_time else "")
        + (
            f" Entry counts equal to vectorbt's for every combo: {vbt_match}."
            if vbt_match is not None
            else ""
        ),
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
