"""Ray Tune searches against `sweep` and a classic one-backtest-per-trial Tune set-up.

    .venv/bin/python -m bench.bench_tune [--quick]

One process, one local Ray (its start-up timed once and added to every tune's wall time, as a
`torchtrader tune` process pays it once), one lake in a temp dir:

- (a) a 10,000-combination sma_cross grid (fast 5..104 × slow 110..605 step 5, every combo valid) on
  43,800 seeded hourly bars (5 years): `runner.sweep` (what `torchtrader sweep` runs) vs
  `run_tune(search="grid")`, evaluations per second;
- (b) a classic Tune set-up: one trial per combination, each trial one `run_backtest` on the bars
  (from the object store), on a subset of the same grid, per evaluation;
- (c) `run_tune(search="bayes")` with 5 % of the grid's evaluations against the grid optimum, per
  built-in strategy on the sample data (SPX daily 1999-2018), on coarse grids (documented below);
- (d) random (2,000 draws) and bayes (500 suggestions) throughput on the (a) space;
- (e) the (a) grid tune again, tracked in MLflow (SQLite store in the temp dir).

Writes docs/benchmarks/tune.md. ``--quick`` runs small sizes (a smoke run, not numbers to quote).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as bench_backtest: per-op thread sync costs on 2 cores
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

import numpy as np
import polars as pl

from bench._tune_report import FEE, write

ROOT = Path(__file__).resolve().parent.parent
MEASURED = Path("/tmp/bench_tune_measured.json")
HOURLY_BARS = 43_800
GRID_SPACE = ["fast=5:104:1", "slow=110:605:5"]  # 100 × 100 = 10,000 combos, fast < slow always
# (c): coarse grids of each built-in on SPX daily (the strategies' own Search spaces hold up to 417 k
# combos: a grid of those for seven strategies would not fit the bench's time on this machine).
BAYES_SPACES = {
    "sma_cross": ["fast=2:98:4", "slow=5:395:10"],
    "ema_cross": ["fast=2:98:4", "slow=5:395:10"],
    "rsi_reversion": ["period=2:50:4", "lower=10:45:5", "upper=55:90:5"],
    "bollinger_breakout": ["period=5:100:5", "width=1.0:3.5:0.25"],
    "macd_trend": ["fast=2:50:4", "slow=5:200:15", "signal=2:50:8"],
    "donchian_breakout": ["entry=5:195:10", "exit=2:97:5"],
    "weekly_trend": ["period=5:100:5", "weeks=4:52:4"],
}
BAYES_SHARE = 0.05


def hourly_frame(n_bars: int, seed: int = 7) -> pl.DataFrame:
    """Seeded hourly geometric random walk with consistent OHLC, in the lake's bar schema."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.00002, 0.004, n_bars)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.0005, n_bars))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, n_bars)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, n_bars)))
    ts = pl.datetime_range(
        datetime(2019, 1, 1, tzinfo=UTC), interval="1h", eager=True, end=datetime(2030, 1, 1, tzinfo=UTC)
    ).head(n_bars)
    return pl.DataFrame(
        {
            "source": "bench",
            "symbol": "SYN/USD",
            "timeframe": "1h",
            "ts": ts,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.full(n_bars, 1000.0),
        }
    )


def timed(call: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    out = call()
    return out, time.perf_counter() - began


def classic(lake: Any, series: Any, combos: list[dict[str, int]], folder: Path) -> float:
    """Wall seconds of a one-combination-per-trial Tune experiment (Ray already up)."""
    import ray
    from ray import tune

    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.runner import load_bars

    bars, version = load_bars(lake, series)
    bars_ref = ray.put(bars)
    config = BacktestConfig(fee=FEE)

    def trainable(trial: dict[str, Any]) -> dict[str, Any]:
        from torchtrader.backtest.engine import run_backtest
        from torchtrader.strategies import load_strategy

        cls = load_strategy("sma_cross")
        result = run_backtest(
            cls(), ray.get(bars_ref), cls.Params(**trial["combo"]), config, lake_version=version
        )
        return {"sharpe": float(result.metrics.sharpe)}

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"combo": tune.grid_search(combos)},
        run_config=tune.RunConfig(storage_path=str(folder / "classic"), name="classic", verbose=0),
    )
    _, wall = timed(tuner.fit)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not numbers to quote")
    parser.add_argument(
        "--only",
        choices=("tracking", "bayes"),
        help="re-measure one phase, (e) or (c), and rewrite the report with the other phases as last saved",
    )
    parser.add_argument("--pairs", type=int, default=3, help="(e): untracked/tracked pairs, interleaved")
    args = parser.parse_args()
    if args.only:
        rerun(args.only, args.pairs)
        return
    import ray
    import torch

    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.grid import parse_grid
    from torchtrader.backtest.runner import SeriesRef, sweep
    from torchtrader.lake import Lake
    from torchtrader.optimize.tune import run_tune
    from torchtrader.testing.market import sample_frame

    n_bars = 4_000 if args.quick else HOURLY_BARS
    grid_space = ["fast=5:24:1", "slow=110:205:5"] if args.quick else GRID_SPACE
    n_classic = 10 if args.quick else 50
    n_random, n_bayes = (200, 60) if args.quick else (2_000, 500)
    spaces = dict(list(BAYES_SPACES.items())[:2]) if args.quick else BAYES_SPACES
    config = BacktestConfig(fee=FEE)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        folder = Path(tmp).resolve()
        lake = Lake(str(folder / "lake"))
        lake.upsert_bars(hourly_frame(n_bars))
        lake.upsert_bars(sample_frame("SPX"))
        hourly = SeriesRef("SYN/USD", "1h", "bench")
        ranges = parse_grid(grid_space)
        print("sweep", flush=True)
        swept, rows["sweep_s"] = timed(lambda: sweep(lake, hourly, "sma_cross", ranges, config, top_k=1))
        rows["n_combos"] = swept.n_combos
        _, rows["ray_start_s"] = timed(
            lambda: ray.init(include_dashboard=False, log_to_driver=False, num_cpus=os.cpu_count())
        )

        def tune(search: Any, space: list[str], series: SeriesRef = hourly, **kw: Any) -> Any:
            return run_tune(
                lake, series, kw.pop("strategy", "sma_cross"), space, search=search, config=config, **kw
            )

        print("tune grid", flush=True)
        grid, rows["grid_s"] = timed(lambda: tune("grid", grid_space))
        rows["grid_trials"] = grid.n_trials
        rows["grid_same_best"] = grid.best_params() == dict(swept.top[0].params) if swept.top else None
        print("tune grid tracked", flush=True)
        rows.update(tracking_pairs(lake, hourly, grid_space, folder, args.pairs))
        print("random / bayes", flush=True)
        rnd, rows["random_s"] = timed(lambda: tune("random", grid_space, samples=n_random, seed=1))
        bay, rows["bayes_s"] = timed(lambda: tune("bayes", grid_space, samples=n_bayes, seed=1))
        rows["random_n"], rows["bayes_n"] = rnd.n_evaluations, bay.n_evaluations
        rows["random_trials"], rows["bayes_trials"] = rnd.n_trials, bay.n_trials
        print("classic", flush=True)
        params = [dict(p) for p in grid.frame.select("fast", "slow").head(n_classic).iter_rows(named=True)]
        rows["classic_n"] = len(params)
        rows["classic_s"] = classic(lake, hourly, params, folder)
        print("bayes vs grid", flush=True)
        quality = bayes_quality(lake, spaces, tune)
        ray.shutdown()
    # Kept so the report can be rewritten without re-measuring: write(**json.load(...)).
    saved = {
        "rows": rows,
        "quality": quality,
        "n_bars": n_bars,
        "grid_space": grid_space,
        "quick": args.quick,
    }
    MEASURED.write_text(json.dumps({**saved, "torch_version": torch.__version__}))
    write(rows, quality, n_bars, grid_space, args.quick, torch.__version__)


def tracking_pairs(lake: Any, series: Any, grid_space: list[str], folder: Path, pairs: int) -> dict[str, Any]:
    """(e): the same grid tune untracked and tracked, ``pairs`` times interleaved (alternating which
    goes first, so a load swing on the shared machine hits both sides), medians; plus the seconds the
    driver spends in tracking code itself (nested runs, parent outcome, tearsheet), load-independent."""
    from mlflow import MlflowClient

    import torchtrader.optimize._search as search_module
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.optimize.tune import run_tune

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    # A new SQLite store runs MLflow's schema migrations once (seconds): a one-time cost of the
    # store, not of tracking a tune, so it is paid (and reported) before the timed runs.
    _, store_init_s = timed(lambda: MlflowClient(tracking_uri=uri).search_experiments())
    spent = {"s": 0.0}
    originals = {name: getattr(search_module, name) for name in ("_log_trial", "log_outcome")}

    def clocked(call: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - began

        return wrapper

    for name, call in originals.items():
        setattr(search_module, name, clocked(call))
    config = BacktestConfig(fee=FEE)
    untracked: list[float] = []
    tracked: list[float] = []
    tracking_work: list[float] = []
    try:
        for pair in range(pairs):
            for side in ("untracked", "tracked") if pair % 2 == 0 else ("tracked", "untracked"):
                kw: dict[str, Any] = {"tracking_uri": uri, "experiment": "bench"} if side == "tracked" else {}
                spent["s"] = 0.0
                _, wall = timed(
                    lambda k=kw: run_tune(lake, series, "sma_cross", grid_space, config=config, **k)
                )
                (tracked if side == "tracked" else untracked).append(wall)
                if side == "tracked":
                    tracking_work.append(spent["s"])
                print(side, f"{wall:.1f} s", flush=True)
    finally:
        for name, call in originals.items():
            setattr(search_module, name, call)
    return {
        "store_init_s": store_init_s,
        "untracked_s": statistics.median(untracked),  # (a)'s grid_s stays the first, untracked run
        "tracked_s": statistics.median(tracked),
        "untracked_all_s": untracked,
        "tracked_all_s": tracked,
        "tracking_work_s": statistics.median(tracking_work),
    }


def bayes_quality(lake: Any, spaces: dict[str, list[str]], tune: Any) -> list[dict[str, Any]]:
    """(c): per strategy, the grid optimum and a seeded bayes search with 5 % of its evaluations."""
    from torchtrader.backtest.runner import SeriesRef

    spx = SeriesRef("SPX", "1d")
    quality = []
    for strategy, space in spaces.items():
        full, full_s = timed(lambda s=space, n=strategy: tune("grid", s, spx, strategy=n))
        budget = max(1, math.floor(BAYES_SHARE * full.n_evaluations))
        found, found_s = timed(
            lambda s=space, n=strategy, b=budget: tune("bayes", s, spx, strategy=n, samples=b, seed=0)
        )
        best, got = (
            full.to_json()["best"]["metrics"]["objective"],
            found.to_json()["best"]["metrics"]["objective"],
        )
        quality.append(
            {
                "strategy": strategy, "space": " ".join(space), "grid_n": full.n_evaluations,
                "grid_best": best, "grid_s": full_s, "bayes_n": found.n_evaluations, "bayes_best": got,
                "bayes_s": found_s, "ratio": got / best if best and best > 0 else float("nan"),
            }
        )  # fmt: skip
        print(quality[-1], flush=True)
    return quality


def rerun(phase: str, pairs: int) -> None:
    """Re-measure (e) or (c) alone and rewrite the report, the other phases as last saved."""
    import ray

    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.runner import SeriesRef
    from torchtrader.lake import Lake
    from torchtrader.optimize.tune import run_tune
    from torchtrader.testing.market import sample_frame

    saved = json.loads(MEASURED.read_text())
    config = BacktestConfig(fee=FEE)
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        folder = Path(tmp).resolve()
        lake = Lake(str(folder / "lake"))
        ray.init(include_dashboard=False, log_to_driver=False, num_cpus=os.cpu_count())
        try:
            if phase == "tracking":
                lake.upsert_bars(hourly_frame(saved["n_bars"]))
                hourly = SeriesRef("SYN/USD", "1h", "bench")
                saved["rows"].update(tracking_pairs(lake, hourly, saved["grid_space"], folder, pairs))
            else:
                lake.upsert_bars(sample_frame("SPX"))

                def tune(search: Any, space: list[str], series: SeriesRef, **kw: Any) -> Any:
                    return run_tune(
                        lake, series, kw.pop("strategy"), space, search=search, config=config, **kw
                    )

                spaces = dict(list(BAYES_SPACES.items())[:2]) if saved["quick"] else BAYES_SPACES
                saved["quality"] = bayes_quality(lake, spaces, tune)
        finally:
            ray.shutdown()
    # Re-read: another phase's re-run may have saved meanwhile; keep its part.
    latest = json.loads(MEASURED.read_text())
    if phase == "tracking":
        latest["rows"] = saved["rows"]
    else:
        latest["quality"] = saved["quality"]
    saved = latest
    MEASURED.write_text(json.dumps(saved))
    fields = ("rows", "quality", "n_bars", "grid_space", "quick", "torch_version")
    write(*(saved[name] for name in fields))


if __name__ == "__main__":
    main()
