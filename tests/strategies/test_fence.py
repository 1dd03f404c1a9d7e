"""run_positions, the fence around strategy code: results checked, NaN means flat, errors name the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor

from torchtrader.errors import StrategyError
from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams, run_positions

THIS_FILE = str(Path(__file__).resolve())


class Returns(Strategy):
    """Returns whatever the test puts in ``result`` (a callable of bars and batch)."""

    name = "returns"

    class Params(StrategyParams):
        level: float = 0.0

    def __init__(self, result: Callable[[Bars, ParamBatch], object]) -> None:
        self.result = result

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        return self.result(bars, p)  # type: ignore[return-value]


def run(result: Callable[[Bars, ParamBatch], object], bars: Bars, combos: int = 1) -> Tensor:
    batch = ParamBatch.from_params([Returns.Params()] * combos)
    return run_positions(Returns(result), bars, batch)


@pytest.fixture
def bars(bars_from: Callable[..., Bars]) -> Bars:
    return bars_from([1.0, 2.0, 3.0, 4.0])


def test_nan_positions_mean_flat_and_values_pass_through(bars: Bars) -> None:
    out = run(lambda b, p: torch.tensor([[float("nan"), 0.5, -1.0, 1.0]], dtype=torch.float64), bars)
    assert out.tolist() == [[0.0, 0.5, -1.0, 1.0]]


def test_integer_and_boolean_results_become_the_bars_dtype(bars: Bars) -> None:
    out = run(lambda b, p: torch.tensor([[True, False, True, True]]), bars)
    assert out.dtype == torch.float64 and out.tolist() == [[1.0, 0.0, 1.0, 1.0]]
    out32 = run(lambda b, p: torch.tensor([[0, 1, -1, 0]]), bars.to(dtype=torch.float32))
    assert out32.dtype == torch.float32


def test_float_noise_just_outside_the_range_is_clipped(bars: Bars) -> None:
    out = run(lambda b, p: torch.tensor([[1 + 1e-12, -1 - 1e-12, 0.0, 0.0]], dtype=torch.float64), bars)
    assert out.tolist() == [[1.0, -1.0, 0.0, 0.0]]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (lambda b, p: [[0, 0, 0, 0]], r"positions\(\) returned list, expected a torch Tensor"),
        (
            lambda b, p: torch.zeros(4, dtype=torch.float64),
            r"returned shape \(4,\), expected \[combos, time\] = \(1, 4\)",
        ),
        (lambda b, p: torch.zeros(1, 3, dtype=torch.float64), r"returned shape \(1, 3\)"),
        (
            lambda b, p: torch.tensor([[0.0, 2.0, 0.0, 0.0]]),
            r"position 2.0 at combo 0, bar 1 is outside \[-1, 1\]",
        ),
        (lambda b, p: torch.tensor([[0.0, 0.0, float("inf"), 0.0]]), r"position inf at combo 0, bar 2"),
        (lambda b, p: torch.zeros(1, 4, device="meta"), r"returned a tensor on meta, bars are on cpu"),
    ],
)
def test_bad_results_are_refused_in_one_line(
    bars: Bars, result: Callable[[Bars, ParamBatch], object], message: str
) -> None:
    with pytest.raises(StrategyError, match=message) as caught:
        run(result, bars)
    assert str(caught.value).startswith(f"strategy 'returns' ({THIS_FILE}):")
    assert "\n" not in str(caught.value)


def test_the_batch_size_sets_the_expected_rows(bars: Bars) -> None:
    out = run(lambda b, p: torch.zeros(p.size, len(b), dtype=torch.float64), bars, combos=3)
    assert out.shape == (3, 4)
    with pytest.raises(StrategyError, match=r"expected \[combos, time\] = \(3, 4\)"):
        run(lambda b, p: torch.zeros(1, len(b), dtype=torch.float64), bars, combos=3)


def test_an_exception_names_the_strategy_file_and_line(bars: Bars) -> None:
    def explode(b: Bars, p: ParamBatch) -> object:
        return b.close[:, 10]  # a 1-D tensor has no second dimension

    line = explode.__code__.co_firstlineno + 1
    with pytest.raises(StrategyError) as caught:
        run(explode, bars)
    message = str(caught.value)
    assert message.startswith(f"strategy 'returns' failed in {THIS_FILE} line {line}: IndexError: ")
    assert isinstance(caught.value.__cause__, IndexError)
