"""`make bench-gpu` runs only where a GPU is lent (minutes a month), so its script is exercised here:
every step on the CPU at toy sizes, each of which must run without an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_step_of_the_gpu_script_runs_on_the_cpu(tmp_path: Path) -> None:
    report = ROOT / "docs" / "benchmarks" / "gpu.md"
    before = report.read_bytes() if report.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_gpu", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "bench_gpu --smoke: every step ran" in lines
    for step in ("tests", "indicators", "sweep", "training", "tune"):
        assert any(line.startswith(f"{step}: {{") and '"error"' not in line for line in lines), step
    # the CUDA selection finds the CUDA tests of every layer (kernels, engine parity, training)
    for module in ("test_kernels_properties.py", "test_cuda_parity.py", "test_training.py"):
        assert module in done.stdout, module
    assert (report.read_bytes() if report.exists() else None) == before  # a smoke run writes nothing
