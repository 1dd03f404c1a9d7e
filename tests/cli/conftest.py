"""Run the real CLI entry point in-process (same error handling as the console script)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from torchtrader.cli import main


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], lake_uri: str) -> Any:
    def run(*args: str) -> CliRun:
        capsys.readouterr()
        try:
            main(["--lake", lake_uri, *args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
