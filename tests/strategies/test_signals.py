"""Position helpers: crossover semantics, hold-last, events, shift — specified by hand-written tables."""

from __future__ import annotations

import math

import pytest
import torch

from torchtrader.strategies.signals import (
    by_unique,
    cross_above,
    cross_below,
    crossover_state,
    events_to_state,
    hold_last,
    last_true,
    shift,
)

NAN = math.nan


def t(values: list[float] | list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize(
    ("fast", "slow", "expected"),
    [
        # plain cross up then down
        ([1, 2, 3, 2, 1], [2, 2, 2, 2, 2], [0, 0, 1, 1, 0]),
        # "cross above" needs fast <= slow on the previous bar: touching then rising is a cross
        ([1, 2, 3, 3, 3], [2, 2, 2, 2, 2], [0, 0, 1, 1, 1]),
        # already above on the first bar: no cross, so no position
        ([3, 3, 3, 3, 3], [2, 2, 2, 2, 2], [0, 0, 0, 0, 0]),
        # a cross below first keeps us flat; the later cross above goes long
        ([3, 1, 1, 3, 3], [2, 2, 2, 2, 2], [0, 0, 0, 1, 1]),
        # touching from above (fast == slow) is not a cross below; falling below after touching is
        ([1, 3, 2, 2, 1], [2, 2, 2, 2, 2], [0, 1, 1, 1, 0]),
        # touching from above then rising again: no event, still long
        ([1, 3, 2, 3, 3], [2, 2, 2, 2, 2], [0, 1, 1, 1, 1]),
        # warm-up NaN: the first bar with both values is never a cross, even when fast > slow there
        ([NAN, NAN, 3, 1, 3], [NAN, 2, 2, 2, 2], [0, 0, 0, 0, 1]),
        # a NaN gap (never produced by kernels after warm-up) hides the cross that straddles it
        ([1, 3, NAN, 1, 1], [2, 2, 2, 2, 2], [0, 1, 1, 1, 1]),
    ],
)
def test_crossover_state_table(fast: list[float], slow: list[float], expected: list[float]) -> None:
    assert crossover_state(t(fast), t(slow)).tolist() == expected


def test_crossover_state_batches_rows_independently_and_broadcasts_a_shared_series() -> None:
    fast = t([[1, 3, 3, 1], [1, 1, 3, 3]])
    slow = t([2, 2, 2, 2])  # [T] shared by both rows
    out = crossover_state(fast, slow)
    assert out.shape == (2, 4)
    assert out.tolist() == [[0, 1, 1, 0], [0, 0, 1, 1]]
    assert out.dtype == torch.float64


def test_crossover_state_keeps_float32() -> None:
    out = crossover_state(t([1, 3]).float(), t([2, 2]).float())
    assert out.dtype == torch.float32
    assert out.tolist() == [0, 1]


def test_cross_above_and_below_are_mirrors() -> None:
    a, b = t([1, 3, 2, 2, 1, 2]), t([2, 2, 2, 2, 2, 2])
    assert cross_above(a, b).tolist() == [False, True, False, False, False, False]
    assert cross_below(a, b).tolist() == [False, False, False, False, True, False]


def test_hold_last_forward_fills_and_fills_the_start() -> None:
    signal = t([NAN, NAN, 1, NAN, -1, NAN, 0, NAN])
    assert hold_last(signal).tolist() == [0, 0, 1, 1, -1, -1, 0, 0]
    assert hold_last(signal, fill=-1.0).tolist()[:2] == [-1, -1]


def test_hold_last_works_per_row_and_on_empty_series() -> None:
    signal = t([[NAN, 1, NAN], [1, NAN, NAN]])
    assert hold_last(signal).tolist() == [[0, 1, 1], [1, 1, 1]]
    assert hold_last(torch.empty(2, 0, dtype=torch.float64)).shape == (2, 0)


def test_hold_last_matches_a_python_loop_on_random_events() -> None:
    gen = torch.Generator().manual_seed(3)
    values = torch.randint(-1, 2, (4, 300), generator=gen).double()
    values[torch.rand(4, 300, generator=gen) < 0.8] = NAN
    expected = []
    for row in values.tolist():
        held, out = 0.0, []
        for v in row:
            held = held if math.isnan(v) else v
            out.append(held)
        expected.append(out)
    assert hold_last(values).tolist() == expected


def test_events_to_state_enter_exit_and_exit_wins_ties() -> None:
    enter = torch.tensor([False, True, False, True, False, True])
    exit_ = torch.tensor([False, False, True, False, False, True])
    assert events_to_state(enter, exit_).tolist() == [0, 1, 0, 1, 1, 0]
    assert events_to_state(enter, exit_, value=-1.0).tolist() == [0, -1, 0, -1, -1, 0]


def test_shift_delays_and_refuses_negative_periods() -> None:
    assert shift(t([1, 2, 3]), 1).tolist()[1:] == [1, 2]
    assert math.isnan(shift(t([1, 2, 3]), 1)[0])
    assert shift(t([1, 2, 3]), 5, fill=0.0).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="future"):
        shift(t([1, 2, 3]), -1)


def test_by_unique_runs_the_kernel_once_per_distinct_value() -> None:
    calls: list[list[int]] = []

    def kernel(values: torch.Tensor) -> torch.Tensor:
        calls.append(values.tolist())
        return values[:, None].double() * t([1, 10])

    out = by_unique(torch.tensor([5, 3, 5, 3, 7]), kernel)
    assert calls == [[3, 5, 7]]
    assert out.tolist() == [[5, 50], [3, 30], [5, 50], [3, 30], [7, 70]]


def test_last_true_is_the_one_based_index_of_the_latest_event() -> None:
    mask = torch.tensor([[False, True, False, False, True], [False, False, False, False, False]])
    assert last_true(mask).tolist() == [[0, 2, 2, 2, 5], [0, 0, 0, 0, 0]]
