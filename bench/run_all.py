"""`make bench`: run every benchmark module in bench/ and assemble docs/BENCHMARKS.md.

Each bench module writes its own section to docs/benchmarks/<name>.md; this script runs them one
after the other (never in parallel: they compete for the same 2 cores) and stitches the sections.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ROOT / "docs" / "benchmarks"
ORDER = [
    "lake",
    "validation",
    "sources",
    "data",
    "startup",
    "indicators",
    "features",
    "strategies",
    "backtest",
    "tune",
    "overfit",
    "training",
    "gpu",
    "bots",
    "venues",
    "ui",
    "demo",
]


def assemble() -> Path:
    parts = [
        "# Benchmarks\n",
        "Measured by `make bench` (modules in `bench/`), peers side by side in the same run.\n"
        f"Machine: {platform.machine()}, {psutil.cpu_count(logical=True)} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}. "
        f"Assembled {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Each section says when it was measured.\n",
    ]
    names = sorted(p.stem for p in SECTIONS.glob("*.md"))
    for name in [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]:
        parts.append(_as_section((SECTIONS / f"{name}.md").read_text().strip()) + "\n")
    out = ROOT / "docs" / "BENCHMARKS.md"
    out.write_text("\n".join(parts))
    return out


def _as_section(text: str) -> str:
    """A section file written as its own page (``# Title``) moves one heading level down, so every
    section is a ``##`` of the assembled page."""
    if not text.startswith("# "):
        return text
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not numbers to quote")
    parser.add_argument("--only", nargs="*", default=None, help="bench module names, e.g. bench_lake")
    args = parser.parse_args()
    modules = args.only or sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    for module in modules:
        print(f"== {module}", flush=True)
        command = [sys.executable, "-m", f"bench.{module}"] + (["--quick"] if args.quick else [])
        subprocess.run(command, cwd=ROOT, check=True)
    print(assemble())


if __name__ == "__main__":
    main()
