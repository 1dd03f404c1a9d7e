"""`torchtrader strategy list|new` and `torchtrader lookahead`, through the real entry point."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchtrader.strategies import builtin_strategies

PEEKING = '''
import torch
from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams


class Peeking(Strategy):
    """Long when tomorrow closes higher: reads the close shifted backwards."""

    name = "peeking"

    class Params(StrategyParams):
        threshold: float = 0.0

    def positions(self, bars: Bars, p: ParamBatch) -> torch.Tensor:
        tomorrow = torch.cat([bars.close[1:], bars.close[-1:]])
        return ((tomorrow - bars.close) > p.threshold[:, None]).to(bars.dtype)
'''


def test_list_shows_builtins_with_parameters_defaults_and_ranges(cli: Callable[..., Any]) -> None:
    result = cli("strategy", "list")
    assert result.code == 0, result.err
    for name in builtin_strategies():
        assert f"{name}  [built-in]" in result.out
    assert "    fast: int = 10  search 2..100" in result.out
    assert "    width: float = 2.0  search 1..3.5" in result.out
    assert "    short: bool = False\n" in result.out


def test_list_json_includes_user_strategies(cli: Callable[..., Any], strategies_dir: Path) -> None:
    (strategies_dir / "peeking.py").write_text(textwrap.dedent(PEEKING))
    result = cli("--strategies-dir", str(strategies_dir), "strategy", "list", "--json")
    assert result.code == 0, result.err
    rows = {row["name"]: row for row in result.json()}
    assert set(rows) == set(builtin_strategies()) | {"peeking"}
    assert rows["peeking"]["origin"] == str(strategies_dir / "peeking.py")
    assert rows["peeking"]["parameters"] == [
        {"name": "threshold", "type": "float", "default": 0.0, "search": None}
    ]
    assert rows["sma_cross"]["parameters"][1] == {
        "name": "slow",
        "type": "int",
        "default": 30,
        "search": {"low": 5, "high": 400, "step": None, "log": False},
    }


def test_list_reports_a_broken_user_file_in_one_line(cli: Callable[..., Any], strategies_dir: Path) -> None:
    (strategies_dir / "broken.py").write_text("def f(:\n")
    result = cli("--strategies-dir", str(strategies_dir), "strategy", "list")
    assert result.code == 1
    assert (
        result.err
        == f"error: strategy file {strategies_dir / 'broken.py'} line 1: syntax error: invalid syntax\n"
    )


def test_new_writes_a_template_that_loads_runs_and_passes_lookahead(
    cli: Callable[..., Any], strategies_dir: Path, spx_lake: str
) -> None:
    created = cli("--strategies-dir", str(strategies_dir), "strategy", "new", "my_trend")
    assert created.code == 0, created.err
    path = strategies_dir / "my_trend.py"
    assert f"wrote {path}" in created.out
    text = path.read_text()
    assert "class MyTrend(Strategy):" in text and 'name = "my_trend"' in text
    listed = cli("--strategies-dir", str(strategies_dir), "strategy", "list", "--json")
    assert "my_trend" in {row["name"] for row in listed.json()}
    checked = cli(
        "--lake", spx_lake, "--strategies-dir", str(strategies_dir),
        "lookahead", "--strategy", "my_trend", "--symbol", "SPX", "--prefixes", "20",
    )  # fmt: skip
    assert checked.code == 0, checked.err
    assert checked.out.startswith("ok: lookahead check passed: strategy 'my_trend' (period=50 band=0.01)")


def test_new_refuses_without_folder_existing_file_builtin_name_and_bad_names(
    cli: Callable[..., Any], strategies_dir: Path
) -> None:
    no_folder = cli("strategy", "new", "x")
    assert no_folder.code == 1
    assert (
        "no strategies folder configured: pass --strategies-dir or set TORCHTRADER_STRATEGIES"
        in no_folder.err
    )
    folder = ("--strategies-dir", str(strategies_dir))
    (strategies_dir / "taken.py").write_text("# mine\n")
    exists = cli(*folder, "strategy", "new", "taken")
    assert exists.code == 1 and "already exists" in exists.err
    assert (strategies_dir / "taken.py").read_text() == "# mine\n"  # untouched
    builtin = cli(*folder, "strategy", "new", "sma_cross")
    assert builtin.code == 1 and "'sma_cross' is a built-in strategy" in builtin.err
    bad = cli(*folder, "strategy", "new", "My-Strategy")
    assert bad.code == 1 and "must be a lowercase Python identifier" in bad.err
    assert sorted(p.name for p in strategies_dir.iterdir()) == ["taken.py"]


def test_lookahead_passes_for_a_builtin_on_lake_bars(cli: Callable[..., Any], spx_lake: str) -> None:
    result = cli(
        "--lake", spx_lake, "lookahead", "--strategy", "sma_cross", "--symbol", "SPX",
        "--param", "fast=5", "--param", "slow=20",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == (
        "ok: lookahead check passed: strategy 'sma_cross' (fast=5 slow=20) gives the same positions on "
        "50 prefixes as on all 5031 bars (SPX 1d)\n"
    )


def test_lookahead_fails_for_a_peeking_file_naming_strategy_bar_and_params(
    cli: Callable[..., Any], spx_lake: str, tmp_path: Path
) -> None:
    path = tmp_path / "peeking.py"
    path.write_text(textwrap.dedent(PEEKING))
    result = cli(
        "--lake", spx_lake, "lookahead", "--strategy", str(path), "--symbol", "SPX", "--source", "sample",
        "-p", "threshold=0.5",
    )  # fmt: skip
    assert result.code == 1
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("error: lookahead detected: strategy 'peeking' (threshold=0.5) at bar ")
    assert "T00:00:00+00:00)" in line and line.endswith("(SPX 1d)")


def test_lookahead_errors_are_one_line(cli: Callable[..., Any], spx_lake: str) -> None:
    unknown = cli("--lake", spx_lake, "lookahead", "--strategy", "sma_crss", "--symbol", "SPX")
    assert (unknown.code, unknown.err) == (
        1,
        "error: unknown strategy 'sma_crss'; did you mean 'sma_cross'?\n",
    )
    typo = cli("--lake", spx_lake, "lookahead", "--strategy", "sma_cross", "--symbol", "SPX", "-p", "slwo=3")
    assert typo.err == "error: unknown parameter 'slwo' for sma_cross; did you mean 'slow'?\n"
    missing = cli("--lake", spx_lake, "lookahead", "--strategy", "sma_cross", "--symbol", "NOPE")
    assert missing.code == 1 and missing.err.startswith("error: no 1d bars for 'NOPE'")
