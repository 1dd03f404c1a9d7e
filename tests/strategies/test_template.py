"""`strategy new`: the template is valid, lint-clean, batched, and does what its docstring says."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import talib

from torchtrader.errors import StrategyError
from torchtrader.strategies import Bars, ParamBatch, check_lookahead, load_strategy, run_positions
from torchtrader.strategies.template import class_name_for, render_template, write_template


def test_class_names_are_camel_case() -> None:
    assert class_name_for("my_trend") == "MyTrend"
    assert class_name_for("rsi2") == "Rsi2"


@pytest.mark.parametrize("bad", ["My", "my-trend", "class", "_private", "2fast", ""])
def test_names_must_be_lowercase_identifiers(bad: str) -> None:
    with pytest.raises(StrategyError, match="must be a lowercase Python identifier"):
        render_template(bad)


def test_template_rules_match_a_talib_reference_batched(tmp_path: Path, spx_short: Bars) -> None:
    cls = load_strategy(str(write_template("band_trend", tmp_path)))
    combos = [cls.Params(period=20, band=0.0), cls.Params(period=50, band=0.02), cls.Params()]
    out = run_positions(cls(), spx_short, ParamBatch.from_params(combos))
    close = spx_short.close.numpy()
    for row, params in zip(out.tolist(), combos, strict=True):
        average = talib.SMA(close, params.period)
        expected, pos = [], 0.0
        for c, a in zip(close, average, strict=True):
            if not math.isnan(a) and c < a:
                pos = 0.0
            elif not math.isnan(a) and c > a * (1 + params.band):
                pos = 1.0
            expected.append(pos)
        assert row == expected
        assert 0 < sum(expected) < len(expected)
    assert check_lookahead(cls(), spx_short, cls.Params(), n_prefixes=10).ok


def test_template_is_lint_clean(tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None
    path = write_template("clean_one", tmp_path)
    config = Path(__file__).resolve().parents[2] / "pyproject.toml"
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *command, "--config", str(config), str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
