"""Search spaces: --space syntax, Search-annotation defaults, a grid that reads exactly like sweep --grid."""

from __future__ import annotations

import numpy as np
import pytest

from torchtrader.backtest.runner import parse_grid
from torchtrader.errors import ConfigError, StrategyError
from torchtrader.optimize.space import parse_space
from torchtrader.strategies import grid_report, load_strategy

SMA = load_strategy("sma_cross")
RSI = load_strategy("rsi_reversion")


@pytest.mark.parametrize(
    "specs",
    [
        ["fast=5:20:5", "slow=30:60:10"],
        ["fast=5,7,9", "slow=30:90:30"],
        ["fast=2:4:1", "slow=3:9:2"],
    ],
)
def test_a_grid_covers_exactly_the_combos_of_sweep_grid(specs: list[str]) -> None:
    space = parse_space(specs, SMA, search="grid")
    ours = grid_report(SMA, space.grid_ranges())
    sweeps = grid_report(SMA, parse_grid(specs))
    assert [p.model_dump() for p in ours.params] == [p.model_dump() for p in sweeps.params]
    assert (ours.total, ours.dropped) == (sweeps.total, sweeps.dropped)


def test_an_integer_range_without_step_steps_by_one_on_a_grid() -> None:
    space = parse_space(["fast=3:6"], SMA, search="grid")
    assert space.grid_ranges() == {"fast": [3, 4, 5, 6]}


def test_defaults_come_from_the_search_annotations() -> None:
    space = parse_space([], SMA, search="random")
    dims = {d.name: d for d in space.dimensions}
    assert (dims["fast"].kind, dims["fast"].low, dims["fast"].high, dims["fast"].step) == ("int", 2, 100, 1)
    assert (dims["slow"].low, dims["slow"].high) == (5, 400)
    grid = parse_space([], SMA, search="grid").grid_ranges()
    assert grid["fast"] == list(range(2, 101)) and grid["slow"] == list(range(5, 401))
    floats = parse_space([], RSI, search="grid").grid_ranges()
    assert floats["lower"] == pytest.approx(list(np.linspace(10, 45, 10)))


def test_random_draws_respect_type_bounds_step_and_log() -> None:
    space = parse_space(["fast=2:50:4", "slow=10:400:log"], SMA, search="random")
    rng = np.random.default_rng(0)
    draws = [{d.name: d.draw(rng) for d in space.dimensions} for _ in range(500)]
    fasts, slows = [d["fast"] for d in draws], [d["slow"] for d in draws]
    assert all(isinstance(v, int) and 2 <= v <= 50 and (v - 2) % 4 == 0 for v in fasts)
    assert all(isinstance(v, int) and 10 <= v <= 400 for v in slows)
    # Log-uniform: the median sits near the geometric mean (63), far below the arithmetic one (205).
    assert 40 < float(np.median(slows)) < 100


def test_specs_round_trip_through_their_text() -> None:
    space = parse_space(["fast=2:50:4", "slow=10:400:log"], SMA, search="bayes")
    again = parse_space(space.specs(), SMA, search="bayes")
    assert again == space


@pytest.mark.parametrize(
    ("specs", "search", "error", "culprit"),
    [
        (["fsat=2:5"], "grid", StrategyError, "did you mean 'fast'"),
        (["fast=20:5:1"], "grid", ConfigError, "stop is below start"),
        (["fast=20:5"], "random", ConfigError, "inverted --space"),
        (["fast="], "grid", ConfigError, "empty --space"),
        (["fast=1:5:0"], "grid", ConfigError, "step must be > 0"),
        (["fast=2:50:log"], "grid", ConfigError, "no log scale"),
        (["fast=0:50:log"], "bayes", ConfigError, "log scale needs low > 0"),
        (["fast=2.5:9"], "random", ConfigError, "integer parameter"),
        (["fast=a:b"], "random", ConfigError, "not a number"),
        (["fast=2:5", "fast=3:4"], "grid", ConfigError, "twice"),
        (["fast=2:5"], "annealing", ConfigError, "unknown --search"),
    ],
)
def test_bad_spaces_are_one_line_errors_naming_the_culprit(
    specs: list[str], search: str, error: type[Exception], culprit: str
) -> None:
    with pytest.raises(error, match=culprit) as caught:
        parse_space(specs, SMA, search=search)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
