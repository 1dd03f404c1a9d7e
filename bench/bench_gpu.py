"""Everything that needs a GPU, in one run (< 8 minutes on one GPU): the CUDA tests and GPU benchmarks.

    .venv/bin/python -m bench.bench_gpu            # `make bench-gpu`

1. Every CUDA test of the project: pytest selects tests whose name mentions cuda (kernels vs TA-Lib on
   CUDA, engine CUDA vs CPU parity, model training CUDA vs CPU); on a CUDA machine none may skip.
2. Kernels vs TA-Lib on CUDA (``bench.bench_indicators --device cuda``, 1 M bars × 100 windows).
3. A sweep on CUDA: sma_cross over 1 M bars × 1 024 combos, bar-combos/s (float32).
4. Training samples/s on CUDA (mixed precision) vs this machine's CPU (``bench.bench_training``).
5. A Tune GPU trial: ``tune_model`` with fractional GPUs, the trials' resources recorded.

Writes one section to docs/benchmarks/gpu.md. Without CUDA it says so and exits 0 (nothing written).
Goals (issue 9): sweeps ≥ 10 G bar-combos/s, kernels ≥ 50× TA-Lib, training ≥ 20× the CPU.

``--smoke`` runs every step on the CPU at toy sizes and writes nothing: GPU time is scarce, so the
script is checked where none is (tests/unit/test_bench_gpu.py); it exits 1 if any step fails.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks" / "gpu.md"
BUDGET_S = {"tests": 150, "indicators": 120, "training": 120}


def _run(args: list[str], timeout: int) -> tuple[int, str, float]:
    started = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        return done.returncode, done.stdout + done.stderr, time.perf_counter() - started
    except subprocess.TimeoutExpired as error:
        return 124, f"timed out after {timeout} s: {error}", time.perf_counter() - started


def cuda_tests(smoke: bool = False) -> dict[str, Any]:
    selection = [sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-rs", "-p", "no:randomly", "tests"]
    code, out, seconds = _run([*selection, "--collect-only"] if smoke else selection, BUDGET_S["tests"])
    summary = next(
        (line for line in reversed(out.splitlines()) if " in " in line and "=" in line), out[-300:]
    )
    modules = sorted({line.split("::")[0].rsplit("/", 1)[-1] for line in out.splitlines() if "::" in line})
    return {
        "modules": modules,  # first: the printed line is cut at 400 characters
        "exit": code,
        "summary": summary.strip("= ").splitlines()[-1] if summary.strip() else "",
        "seconds": seconds,
        "skipped_cuda": "SKIPPED" in out,
    }


def indicators(smoke: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "rows.json"
        args = [sys.executable, "-m", "bench.bench_indicators", "--repeat", "1", "--json", str(target)]
        args += ["--device", "cpu", "--bars", "20000", "--windows", "4"] if smoke else ["--device", "cuda"]
        code, out, seconds = _run(args, BUDGET_S["indicators"])
        rows = json.loads(target.read_text()) if target.exists() else []
    return {"exit": code, "seconds": seconds, "rows": rows, "tail": out[-600:]}


def _random_bars(n: int) -> Any:
    import numpy as np

    from torchtrader.strategies import Bars

    rng = np.random.default_rng(0)
    close = torch.from_numpy(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))))
    spread = close * 0.001
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000
    return Bars(open=close, high=close + spread, low=close - spread, close=close, volume=torch.ones(n), ts=ts)


def sweep(smoke: bool = False) -> dict[str, Any]:
    from torchtrader.backtest.config import BacktestConfig
    from torchtrader.backtest.engine import run_sweep
    from torchtrader.strategies import load_strategy

    n_bars, n_combos, device = (20_000, 16, "cpu") if smoke else (1_000_000, 1024, "cuda")
    cls = load_strategy("sma_cross")
    bars = _random_bars(n_bars)
    combos = [cls.Params(fast=f, slow=s) for f in range(2, 34) for s in range(40, 72)][:n_combos]
    config = BacktestConfig(device=device, dtype="float32")
    run_sweep(cls(), bars.slice(10_000), combos[:16], config)  # warm-up
    _synchronize(device)
    started = time.perf_counter()
    run_sweep(cls(), bars, combos, config)
    _synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "bars": n_bars,
        "combos": len(combos),
        "seconds": seconds,
        "bar_combos_per_s": n_bars * len(combos) / seconds,
    }


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def training(smoke: bool = False) -> dict[str, Any]:
    from bench.bench_training import run

    kinds = ["lstm", "tcn", "transformer"]
    gpu = run("cpu", 800, 1, 1, kinds) if smoke else run("cuda", 20_000, 2, 1, kinds)
    cpu = run("cpu", 800, 1, 1, kinds) if smoke else run("cpu", 20_000, 1, 1, kinds)
    return {
        row["model"]: {"cuda": row["ours"], "cpu": other["ours"], "speedup": row["ours"] / other["ours"]}
        for row, other in zip(gpu, cpu, strict=True)
    }


def tune_trial(smoke: bool = False) -> dict[str, Any]:
    from datetime import date

    from torchtrader.lake import Lake
    from torchtrader.models.training import TrainConfig
    from torchtrader.models.tune import tune_model
    from torchtrader.testing.market import sample_frame

    folder = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    lake = Lake(str(folder / "lake"))
    lake.upsert_bars(sample_frame("SPX", date(2016 if smoke else 2010, 1, 1), date(2018, 12, 31)))
    started = time.perf_counter()
    config = TrainConfig(model="lstm", epochs=1 if smoke else 3, device="cpu" if smoke else "auto")
    report = tune_model(
        lake, "SPX", config, samples=2 if smoke else 4, gpus_per_trial=0.25,
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", space={"lookback": [16, 32], "hidden": [32]},
    )  # fmt: skip
    return {"seconds": time.perf_counter() - started, "gpus_per_trial": report.gpus_per_trial,
            "device": report.final.device, "best_val_loss": report.best_val_loss}  # fmt: skip


def _step(name: str, fn: Any, smoke: bool) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result: dict[str, Any] = fn(smoke)
    except Exception as error:  # one failing step must not hide the others' numbers
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
    result.setdefault("seconds", time.perf_counter() - started)
    print(f"{name}: {json.dumps(result, default=str)[:400]}", flush=True)
    return result


def report(results: dict[str, dict[str, Any]], total: float) -> str:
    name = torch.cuda.get_device_name(0)
    lines = [
        f"## GPU run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {name}",
        "",
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, host {platform.node()}; total {total:.0f} s.",
        "",
        f"* CUDA tests: {results['tests'].get('summary', results['tests'].get('error'))}",
    ]
    sweep_row = results["sweep"]
    if "bar_combos_per_s" in sweep_row:
        lines.append(
            f"* Sweep sma_cross {sweep_row['bars']:,} bars × {sweep_row['combos']} combos: "
            f"{sweep_row['bar_combos_per_s'] / 1e9:.2f} G bar-combos/s (goal ≥ 10 G)"
        )
    else:
        lines.append(f"* Sweep: {sweep_row.get('error')}")
    for row in results["indicators"].get("rows", [])[:30]:
        lines.append(f"  * kernel {json.dumps(row, default=str)[:200]}")
    for model, row in results["training"].items():
        if isinstance(row, dict) and "speedup" in row:
            lines.append(
                f"* Training {model}: {row['cuda']:,.0f} samples/s CUDA vs {row['cpu']:,.0f} CPU "
                f"({row['speedup']:.1f}×, goal ≥ 20×)"
            )
    lines.append(f"* Tune GPU trials: {json.dumps(results['tune'], default=str)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every step on the CPU at toy sizes")
    smoke = parser.parse_args(argv).smoke
    if not smoke and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device on this machine; nothing to run (exit 0)")
        return 0
    started = time.perf_counter()
    steps = {"tests": cuda_tests, "indicators": indicators, "sweep": sweep, "training": training,
             "tune": tune_trial}  # fmt: skip
    results = {name: _step(name, fn, smoke) for name, fn in steps.items()}
    total = time.perf_counter() - started
    if smoke:
        failed = [name for name, result in results.items() if "error" in result or result.get("exit")]
        print(f"bench_gpu --smoke: {', '.join(failed) or 'every step'} {'failed' if failed else 'ran'}")
        return 1 if failed else 0
    header = (
        "# GPU benchmarks and CUDA checks\n\n`python -m bench.bench_gpu` (make bench-gpu) on a lent GPU.\n\n"
    )
    previous = OUT.read_text().removeprefix(header) if OUT.exists() else ""
    OUT.write_text(header + report(results, total) + ("\n" + previous if previous else ""))
    print(f"wrote {OUT} ({total:.0f} s)")
    # on a GPU machine every CUDA test must run: a skip there is a failure
    return 0 if results["tests"].get("exit") == 0 and not results["tests"].get("skipped_cuda") else 1


if __name__ == "__main__":
    raise SystemExit(main())
