"""Finding strategies: built-ins, a user folder, single files — and errors that name file and line."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from torchtrader.errors import StrategyError
from torchtrader.strategies import (
    Bars,
    ParamBatch,
    builtin_strategies,
    discover_strategies,
    load_strategy,
    run_positions,
)

GOOD = '''
from typing import Annotated

import torch
from torchtrader.strategies import Bars, ParamBatch, Search, Strategy, StrategyParams


class AlwaysLong(Strategy):
    """Long on every bar."""

    name = "{name}"

    class Params(StrategyParams):
        level: Annotated[float, Search(0.0, 1.0)] = 1.0

    def positions(self, bars: Bars, p: ParamBatch) -> torch.Tensor:
        return p.level[:, None].to(bars.dtype).expand(p.size, len(bars)).clone()
'''


def write(folder: Path, filename: str, text: str) -> Path:
    path = folder / filename
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_builtins_are_registered_without_a_folder() -> None:
    assert discover_strategies(None) == builtin_strategies()
    assert load_strategy("sma_cross") is builtin_strategies()["sma_cross"]


def test_a_folder_adds_the_strategies_its_files_define(
    strategies_dir: Path, bars_from: Callable[..., Bars]
) -> None:
    write(strategies_dir, "mine.py", GOOD.format(name="always_long"))
    write(strategies_dir, "_helpers.py", "raise RuntimeError('helpers are not scanned')\n")
    (strategies_dir / "notes.txt").write_text("not python")
    registry = discover_strategies(strategies_dir)
    assert set(registry) == set(builtin_strategies()) | {"always_long"}
    cls = load_strategy("always_long", strategies_dir)
    bars = bars_from([1.0, 2.0, 3.0])
    out = run_positions(cls(), bars, ParamBatch.from_params([cls.Params(level=0.5), cls.Params()]))
    assert out.tolist() == [[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]


def test_imported_builtins_are_not_registered_twice(strategies_dir: Path) -> None:
    write(
        strategies_dir,
        "reuse.py",
        "from torchtrader.strategies.sma_cross import SmaCross\n" + GOOD.format(name="always_long"),
    )
    assert "always_long" in discover_strategies(strategies_dir)


def test_a_file_path_loads_directly_and_names_are_chosen_with_a_colon(tmp_path: Path) -> None:
    one = write(tmp_path, "one.py", GOOD.format(name="one"))
    assert load_strategy(str(one)).name == "one"
    two = write(
        tmp_path,
        "two.py",
        GOOD.format(name="first") + GOOD.replace("AlwaysLong", "Other").format(name="second"),
    )
    with pytest.raises(
        StrategyError, match=r"defines several strategies \(first, second\): pick one with .*two.py:NAME"
    ):
        load_strategy(str(two))
    assert load_strategy(f"{two}:second").name == "second"
    assert load_strategy(f"{two}:Other").name == "second"  # the class name works too
    with pytest.raises(StrategyError, match=r"defines no strategy 'third' \(it defines: first, second\)"):
        load_strategy(f"{two}:third")


def test_unknown_name_suggests_the_closest(strategies_dir: Path) -> None:
    with pytest.raises(StrategyError, match=r"^unknown strategy 'sma_crss'; did you mean 'sma_cross'\?$"):
        load_strategy("sma_crss", strategies_dir)


def test_missing_file_and_missing_folder() -> None:
    with pytest.raises(StrategyError, match=r"strategy file .*nope.py does not exist"):
        load_strategy("/nonexistent/nope.py")
    with pytest.raises(StrategyError, match=r"strategies folder /nonexistent/dir does not exist"):
        discover_strategies("/nonexistent/dir")


def test_syntax_error_names_file_and_line(strategies_dir: Path) -> None:
    path = write(strategies_dir, "broken.py", "x = 1\n\ndef f(:\n    pass\n")
    with pytest.raises(StrategyError) as caught:
        discover_strategies(strategies_dir)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and "syntax error" in message
    assert "\n" not in message


def test_import_error_names_file_and_line(strategies_dir: Path) -> None:
    path = write(strategies_dir, "needs.py", "import os\nimport not_a_real_module_xyz\n")
    with pytest.raises(StrategyError) as caught:
        load_strategy(str(path))
    message = str(caught.value)
    assert f"{path} line 2" in message
    assert "ModuleNotFoundError: No module named 'not_a_real_module_xyz'" in message


def test_error_raised_at_import_time_names_the_user_line(strategies_dir: Path) -> None:
    path = write(strategies_dir, "boom.py", "VALUE = 1\nRATIO = VALUE / 0\n")
    with pytest.raises(StrategyError, match=rf"failed to import \({path} line 2\): ZeroDivisionError"):
        discover_strategies(strategies_dir)


def test_a_strategy_that_raises_names_strategy_file_and_line(
    strategies_dir: Path, bars_from: Callable[..., Bars]
) -> None:
    text = GOOD.format(name="raiser").replace(
        "        return p.level", "        scale = {'a': 1}['missing']\n        return p.level"
    )
    path = write(strategies_dir, "raiser.py", text)
    cls = load_strategy(str(path))
    line = path.read_text().splitlines().index("        scale = {'a': 1}['missing']") + 1
    with pytest.raises(StrategyError) as caught:
        run_positions(cls(), bars_from([1.0, 2.0]), ParamBatch.from_params([cls.Params()]))
    assert str(caught.value) == (f"strategy 'raiser' failed in {path} line {line}: KeyError: 'missing'")


def test_a_user_name_clashing_with_a_builtin_is_refused(strategies_dir: Path) -> None:
    path = write(strategies_dir, "clash.py", GOOD.format(name="sma_cross"))
    with pytest.raises(
        StrategyError, match=rf"strategy name 'sma_cross' in {path} is already used by a built-in"
    ):
        discover_strategies(strategies_dir)


def test_two_user_files_with_the_same_name_are_refused(strategies_dir: Path) -> None:
    write(strategies_dir, "a.py", GOOD.format(name="twin"))
    write(strategies_dir, "b.py", GOOD.format(name="twin"))
    with pytest.raises(StrategyError, match=r"strategy name 'twin' in .*b.py is already used by .*a.py"):
        discover_strategies(strategies_dir)


def test_classes_without_name_or_params_or_defaults_are_explained(tmp_path: Path) -> None:
    nameless = write(tmp_path, "nameless.py", GOOD.replace('    name = "{name}"\n', ""))
    with pytest.raises(
        StrategyError, match=rf"class AlwaysLong in {nameless} line \d+ needs a class attribute name"
    ):
        load_strategy(str(nameless))
    paramless = write(
        tmp_path,
        "paramless.py",
        """
        import torch
        from torchtrader.strategies import Strategy

        class P(Strategy):
            name = "p"

            def positions(self, bars, p):
                return torch.zeros(p.size, len(bars))
        """,
    )
    with pytest.raises(
        StrategyError, match=r"strategy 'p' in .*paramless.py line 4 needs a nested class Params"
    ):
        load_strategy(str(paramless))
    no_default = write(tmp_path, "nodefault.py", GOOD.format(name="nd").replace("] = 1.0", "]"))
    with pytest.raises(StrategyError, match=r"strategy 'nd' in .* every parameter needs a valid default"):
        load_strategy(str(no_default))


def test_same_stem_in_two_folders_does_not_collide(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", "s.py", GOOD.format(name="from_a"))
    second = write(tmp_path / "b", "s.py", GOOD.format(name="from_b"))
    assert load_strategy(str(first)).name == "from_a"
    assert load_strategy(str(second)).name == "from_b"
    assert load_strategy(str(first)).name == "from_a"


def test_bars_fixture_is_what_user_code_receives(bars_from: Callable[..., Bars]) -> None:
    bars: Bars = bars_from([1.0, 2.0])
    assert len(bars) == 2


def test_a_file_is_imported_once_until_it_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "cached.py", GOOD.format(name="v1"))
    first = load_strategy(str(path))
    assert load_strategy(str(path)) is first  # same class object: stable identity for engines and bots
    path.write_text(path.read_text().replace('name = "v1"', 'name = "version2"'))
    assert load_strategy(str(path)).name == "version2"


def test_parameters_that_cannot_be_batched_are_refused(tmp_path: Path) -> None:
    text = GOOD.format(name="stringy").replace(
        "        level: Annotated[float, Search(0.0, 1.0)] = 1.0",
        "        level: Annotated[float, Search(0.0, 1.0)] = 1.0\n        mode: str = 'fast'",
    )
    path = write(tmp_path, "stringy.py", text)
    with pytest.raises(
        StrategyError, match=r"parameter 'mode' is str; parameters must be int, float or bool"
    ):
        load_strategy(str(path))
