"""Parameters: "k=v" parsing with type coercion, one-line errors with did-you-mean, grids."""

from __future__ import annotations

import logging

import pytest

from torchtrader.errors import StrategyError
from torchtrader.strategies import builtin_strategies, grid, grid_report, parse_params

SMA = builtin_strategies()["sma_cross"]
BOLL = builtin_strategies()["bollinger_breakout"]
RSI = builtin_strategies()["rsi_reversion"]


def test_strings_are_coerced_by_field_type_and_defaults_fill_the_rest() -> None:
    params = parse_params(BOLL, ["period=15", "width=1.5", "short=true"])
    assert params.model_dump() == {"period": 15, "width": 1.5, "short": True}
    assert parse_params(BOLL, ["short=0"]).model_dump()["short"] is False
    assert parse_params(SMA, []) == SMA.Params()
    assert parse_params(SMA, {"fast": 5}).model_dump() == {"fast": 5, "slow": 30}
    assert parse_params(RSI, [" lower = 20 "]).model_dump()["lower"] == 20.0


def test_params_are_frozen() -> None:
    params = parse_params(SMA, ["fast=5"])
    with pytest.raises(Exception, match="frozen"):
        params.fast = 6  # type: ignore[misc]


def test_unknown_parameter_suggests_the_closest_name() -> None:
    with pytest.raises(StrategyError) as caught:
        parse_params(SMA, ["slwo=40"])
    assert str(caught.value) == "unknown parameter 'slwo' for sma_cross; did you mean 'slow'?"


def test_unknown_parameter_without_a_close_match_lists_the_known_ones() -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'zzz' for sma_cross; known: fast, slow"):
        parse_params(SMA, {"zzz": 1})


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (["fast=abc"], r"invalid parameter fast='abc' for sma_cross: Input should be a valid integer"),
        (["fast=0"], r"invalid parameter fast='0' for sma_cross: Input should be greater than or equal to 1"),
        (["fast=2.5"], r"invalid parameter fast='2.5' for sma_cross"),
        (["fast=40"], r"^invalid parameters for sma_cross: slow \(30\) must be > fast \(40\)$"),
        (["fast"], r"parameter 'fast' for sma_cross is not of the form name=value"),
        (["=3"], r"is not of the form name=value"),
        (["fast=3", "fast=4"], r"parameter 'fast' for sma_cross given twice"),
    ],
)
def test_bad_values_are_one_line_errors(assignments: list[str], message: str) -> None:
    with pytest.raises(StrategyError, match=message) as caught:
        parse_params(SMA, assignments)
    assert "\n" not in str(caught.value)


def test_grid_is_the_cartesian_product_with_invalid_combos_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="torchtrader.strategies.params"):
        report = grid_report(SMA, {"fast": [5, 10, 20], "slow": [10, 30]})
    pairs = [(p.model_dump()["fast"], p.model_dump()["slow"]) for p in report.params]
    # (10, 10) and (20, 10) break slow > fast
    assert pairs == [(5, 10), (5, 30), (10, 30), (20, 30)]
    assert (report.total, report.dropped) == (6, 2)
    assert "dropped 2 of 6" in caplog.text
    assert grid(SMA, {"fast": [5, 10, 20], "slow": [10, 30]}) == report.params


def test_grid_fills_unlisted_parameters_with_defaults() -> None:
    combos = grid(BOLL, {"width": [1.0, 2.0]})
    assert [c.model_dump() for c in combos] == [
        {"period": 20, "width": 1.0, "short": False},
        {"period": 20, "width": 2.0, "short": False},
    ]


def test_grid_refuses_bad_names_bad_values_and_empty_results() -> None:
    with pytest.raises(StrategyError, match="did you mean 'fast'"):
        grid(SMA, {"fats": [1, 2]})
    with pytest.raises(StrategyError, match="invalid parameter fast='x'"):
        grid(SMA, {"fast": [5, "x"]})
    with pytest.raises(StrategyError, match="empty range for parameter 'fast'"):
        grid(SMA, {"fast": []})
    with pytest.raises(
        StrategyError, match=r"no valid parameter combination for sma_cross in the grid \(2 tried\)"
    ):
        grid(SMA, {"fast": [50, 60], "slow": [40]})
