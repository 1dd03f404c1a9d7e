"""The library stays free of the orchestrator: importing all of torchtrader never imports prefect."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import torchtrader


def test_torchtrader_never_imports_prefect() -> None:
    # Alembic's env.py scripts run only under `alembic` (they read alembic.context at import time).
    modules = [
        m.name
        for m in pkgutil.walk_packages(torchtrader.__path__, "torchtrader.")
        if not m.name.endswith(".migrations.env")
    ]
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


HEAVY = ("torch", "polars", "ray", "mlflow", "pandas", "great_expectations", "prefect", "numba")


def _imported_after(statement: str) -> list[str]:
    script = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return out.stdout.split()


def test_the_cli_imports_no_heavy_library_at_start_up() -> None:
    # `torchtrader --help` imports every command module: heavy imports belong inside the commands.
    assert _imported_after("import torchtrader.cli") == []


def test_listing_the_builtin_strategies_needs_no_torch() -> None:
    # What `torchtrader strategy list` does; the tensor half of the contract loads on first use.
    statement = (
        "from torchtrader.strategies.loader import builtin_strategies\n"
        "from torchtrader.cli.strategy import describe\n"
        "assert [describe(c, True) for c in builtin_strategies().values()]"
    )
    assert _imported_after(statement) == []
