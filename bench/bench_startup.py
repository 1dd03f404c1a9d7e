"""Start-up of the CLI as whole processes: what a user waits for before anything happens.

    .venv/bin/python -m bench.bench_startup [--runs N]

Commands (each a fresh ``torchtrader`` process, median and min of N runs after one untimed warm-up
run that fills the OS file cache):

- ``torchtrader --help``
- ``torchtrader data list`` on a lake holding one small series
- ``torchtrader strategy list`` (the built-ins)
- ``torchtrader ingest csv`` of a 2-row CSV into a fresh lake (a new lake every run)

Goals (issue 8): ``--help``, ``data list`` and ``strategy list`` < 1 s, the small ingest < 2 s.
Also reports which heavy libraries ``import torchtrader.cli`` loads (none, by design: commands import
what they need when they run). Writes docs/benchmarks/startup.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"--help": 1.0, "data list": 1.0, "strategy list": 1.0, "ingest csv (2 rows)": 2.0}
HEAVY = ("torch", "polars", "pandas", "numpy", "ray", "mlflow", "great_expectations", "prefect", "deltalake")
CSV = (
    "Date,Open,High,Low,Close,Volume\n2024-01-02,100,101,99,100.5,1000\n2024-01-03,100.5,102,100,101.5,1100\n"
)


def torchtrader() -> list[str]:
    script = Path(sys.executable).with_name("torchtrader")
    return (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from torchtrader.cli import main; main()"]
    )


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(runs: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    base = torchtrader()
    env = {**os.environ, "TORCHTRADER_CONFIG": str(work / "absent.toml"), "DO_NOT_TRACK": "true"}
    env = {k: v for k, v in env.items() if not (k.startswith("TORCHTRADER_") and k != "TORCHTRADER_CONFIG")}
    csv = work / "two_rows.csv"
    csv.write_text(CSV)
    listed_lake = work / "listed"
    subprocess.run([*base, "--lake", str(listed_lake), "ingest", "csv", str(csv), "--symbol", "X"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    fresh = iter(range(10**6))

    def ingest_argv() -> list[str]:
        lake = work / f"fresh-{next(fresh)}"
        return [*base, "--lake", str(lake), "ingest", "csv", str(csv), "--symbol", "X"]

    commands: dict[str, Callable[[], list[str]]] = {
        "--help": lambda: [*base, "--help"],
        "data list": lambda: [*base, "--lake", str(listed_lake), "data", "list"],
        "strategy list": lambda: [*base, "strategy", "list"],
        "ingest csv (2 rows)": ingest_argv,
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for make in commands.values():
        timed(make(), env)  # warm the file cache; not counted
    # Interleave the commands so a burst of load on the shared machine hits them all alike.
    for _ in range(runs):
        for name, make in commands.items():
            times[name].append(timed(make(), env))
    return times


def heavy_imports() -> list[str]:
    script = f"import sys, torchtrader.cli\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return out.stdout.split()


def write_report(times: dict[str, list[tuple[float, float]]], heavy: list[str], runs: int) -> Path:
    load = os.getloadavg()[0]
    lines = [
        "## CLI start-up (whole processes)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.bench_startup --runs {runs}` "
        f"on {platform.machine()}, {os.cpu_count()} cores shared with other work (1-minute load "
        f"average {load:.1f} when written), Python {platform.python_version()}. Each command is a fresh "
        f"`torchtrader` process; median and min of {runs} runs after one untimed warm-up run. Wall time "
        "suffers from the load; CPU time (user + system of the process) is what the command itself costs.",
        "",
        "| command | wall median s | wall min s | CPU median s | goal s | met (wall min / CPU) |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for name, values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        met = "yes" if min(walls) < GOALS[name] and statistics.median(cpus) < GOALS[name] else "no"
        lines.append(
            f"| `{name}` | {statistics.median(walls):.2f} | {min(walls):.2f} | "
            f"{statistics.median(cpus):.2f} | < {GOALS[name]:g} | {met} |"
        )
    lines += [
        "",
        f"`import torchtrader.cli` loads: {', '.join(heavy) if heavy else 'none of ' + ', '.join(HEAVY)}. "
        "Command modules import typer, rich and the standard library at top level only; the strategy "
        "registry lists and describes the built-ins from `torchtrader.strategies.contract` (no torch), "
        "and built-in strategies import their kernels inside `positions`. Before this work `--help` "
        "took ~4 s (torch via `torchtrader.cli.strategy`).",
        "",
    ]
    out = ROOT / "docs" / "benchmarks" / "startup.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        times = measure(args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = write_report(times, heavy_imports(), args.runs)
    for name, values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(f"{name:22s} wall median {statistics.median(walls):.2f} s  min {min(walls):.2f} s  "
              f"CPU median {statistics.median(cpus):.2f} s")  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
