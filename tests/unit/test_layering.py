"""The library stays free of the orchestrator: importing all of torchtrader never imports prefect."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import torchtrader


def test_torchtrader_never_imports_prefect() -> None:
    modules = [m.name for m in pkgutil.walk_packages(torchtrader.__path__, "torchtrader.")]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('prefect' in sys.modules, len(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout.split()
    assert len(modules) > 5
    assert out[0] == "False"
