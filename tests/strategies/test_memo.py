"""The per-Bars indicator memo: computed once per key, never stale, never leaking into a prefix."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import Tensor

from torchtrader.indicators.kernels import sma
from torchtrader.strategies import Bars
from torchtrader.strategies.memo import IndicatorMemo
from torchtrader.strategies.signals import (
    by_unique,
    cross_above,
    cross_below,
    crossover_state,
    events_to_state,
    unique_rows,
)


def bars_of(n: int = 50, seed: int = 3) -> Bars:
    rng = np.random.default_rng(seed)
    close = torch.from_numpy(100 + np.cumsum(rng.normal(0, 1, n)))
    ts = np.arange(n, dtype=np.int64) * 86_400 * 10**9
    return Bars(close.clone(), close + 1, close - 1, close, torch.ones(n), ts=ts, symbol="M")


def same(a: Tensor, b: Tensor) -> bool:
    """Bit-for-bit equal, NaN (warm-up) included."""
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def counting(kernel: Callable[[Tensor], Tensor], calls: list[list[int]]) -> Callable[[Tensor], Tensor]:
    def run(values: Tensor) -> Tensor:
        calls.append(values.tolist())
        return kernel(values)

    return run


def test_each_distinct_period_is_computed_once_across_calls() -> None:
    bars = bars_of()
    calls: list[list[int]] = []
    kernel = counting(lambda n: sma(bars.close, n), calls)
    first = by_unique(torch.tensor([5, 3, 5]), kernel, memo=bars, key=("sma", "close"))
    second = by_unique(torch.tensor([3, 7, 7]), kernel, memo=bars, key=("sma", "close"))
    assert calls == [[3, 5], [7]]  # 3 was remembered from the first call
    assert same(first, sma(bars.close, torch.tensor([5, 3, 5])))
    assert same(second, sma(bars.close, torch.tensor([3, 7, 7])))
    assert (bars.indicator_memo.hits, bars.indicator_memo.misses) == (1, 3)


def test_results_are_fresh_tensors_so_callers_cannot_corrupt_the_memo() -> None:
    bars = bars_of()
    out = by_unique(torch.tensor([4]), lambda n: sma(bars.close, n), memo=bars, key="sma")
    out.fill_(0.0)
    again = by_unique(torch.tensor([4]), lambda n: sma(bars.close, n), memo=bars, key="sma")
    assert same(again, sma(bars.close, 4).unsqueeze(0))


def test_keys_keep_different_computations_apart() -> None:
    bars = bars_of()
    a = by_unique(torch.tensor([4]), lambda n: sma(bars.close, n), memo=bars, key=("sma", "close"))
    b = by_unique(torch.tensor([4]), lambda n: sma(bars.high, n), memo=bars, key=("sma", "high"))
    assert torch.allclose((b - a)[:, 3:], torch.ones(1, len(bars) - 3, dtype=torch.float64))
    assert a[:, :3].isnan().all()


def test_a_prefix_never_sees_rows_computed_on_the_full_series() -> None:
    # A kernel that peeks at the last bar: a stale full-series row would differ on the prefix.
    def peeking(bars: Bars) -> Callable[[Tensor], Tensor]:
        return lambda n: bars.close.unsqueeze(0) * 0 + bars.close[-1] * n.unsqueeze(1)

    full = bars_of()
    by_unique(torch.tensor([1]), peeking(full), memo=full, key="peek")
    for prefix in (full.slice(20), full.to(dtype=torch.float64), full.to(dtype=torch.float32)):
        assert len(prefix.indicator_memo) == 0
        got = by_unique(torch.tensor([1]), peeking(prefix), memo=prefix, key="peek")
        assert float(got[0, 0]) == pytest.approx(float(prefix.close[-1]))
    assert float(full.slice(20).close[-1]) != float(full.close[-1])


def test_an_in_place_change_of_the_bars_empties_the_memo() -> None:
    bars = bars_of()
    before = by_unique(torch.tensor([3]), lambda n: sma(bars.close, n), memo=bars, key="sma")
    bars.close.mul_(2.0)  # same tensor object, new values: its version counter moves
    after = by_unique(torch.tensor([3]), lambda n: sma(bars.close, n), memo=bars, key="sma")
    assert torch.allclose(after, before * 2, equal_nan=True)


def test_least_recently_used_rows_go_first_and_the_budget_holds() -> None:
    memo = IndicatorMemo(max_bytes=3 * 8 * 10)  # three float64 rows of 10
    rows = {k: torch.full((10,), float(k), dtype=torch.float64) for k in range(4)}
    for k in range(3):
        memo.put("owner", k, rows[k])
    assert memo.get("owner", 0) is rows[0]  # 0 is now the most recent
    memo.put("owner", 3, rows[3])
    assert memo.get("owner", 1) is None  # evicted: least recently used
    assert [memo.get("owner", k) is rows[k] for k in (0, 2, 3)] == [True, True, True]
    assert memo.nbytes == 3 * 80
    memo.put("owner", 9, torch.zeros(100, dtype=torch.float64))  # larger than the whole budget: skipped
    assert memo.get("owner", 9) is None and memo.nbytes == 3 * 80
    assert memo.get("another owner", 0) is None and len(memo) == 0
    with pytest.raises(ValueError, match="budget"):
        IndicatorMemo(max_bytes=-1)


def test_pickles_and_copies_carry_no_cached_rows() -> None:
    bars = bars_of()
    by_unique(torch.tensor([2, 3]), lambda n: sma(bars.close, n), memo=bars, key="sma")
    assert len(bars.indicator_memo) == 2
    for other in (pickle.loads(pickle.dumps(bars)), copy.deepcopy(bars)):
        assert len(other.indicator_memo) == 0
        assert torch.equal(other.close, bars.close)
    assert "memo" not in repr(bars)


def test_bars_memo_computes_once_per_key() -> None:
    bars = bars_of()
    calls: list[int] = []

    def compute() -> Tensor:
        calls.append(1)
        return bars.close * 2

    assert bars.memo("double", compute) is bars.memo("double", compute)
    assert calls == [1]


def _reference(fast: Tensor, slow: Tensor) -> Tensor:
    return events_to_state(cross_above(fast, slow), cross_below(fast, slow), dtype=fast.dtype)


@pytest.mark.parametrize("seed", range(6))
def test_crossover_state_equals_the_event_formulation_with_ties_and_nans(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fast = torch.from_numpy(rng.integers(0, 4, (7, 60)).astype(np.float64))  # many ties
    slow = torch.from_numpy(rng.integers(0, 4, (7, 60)).astype(np.float64))
    fast[rng.random(fast.shape) < 0.1] = float("nan")
    slow[:, :5] = float("nan")
    assert torch.equal(crossover_state(fast, slow), _reference(fast, slow))
    assert torch.equal(crossover_state(fast, slow[0]), _reference(fast, slow[0].expand_as(fast)))
    cube_f, cube_s = fast[:6].reshape(2, 3, 60), slow[:6].reshape(2, 3, 60)
    assert torch.equal(crossover_state(cube_f, cube_s), _reference(cube_f, cube_s))
    # Broadcasting over leading dimensions: [1, 3, T] against [2, 3, T], and [3, T] against it.
    for a, b in ((cube_f[:1], cube_s), (cube_f, cube_s[0]), (fast[0], cube_s)):
        assert torch.equal(crossover_state(a, b), _reference(*torch.broadcast_tensors(a, b)))  # type: ignore[no-untyped-call]
    single = crossover_state(fast[0].float(), slow[0].float())
    assert single.dtype == torch.float32 and torch.equal(single.double(), _reference(fast[0], slow[0]))


def test_crossover_state_on_unique_rows_equals_the_dense_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = bars_of(200)
    fast_p, slow_p = torch.tensor([3, 5, 3, 8, 5]), torch.tensor([20, 20, 30, 30, 40])
    fast = unique_rows(fast_p, lambda n: sma(bars.close, n), memo=bars, key="sma")
    slow = unique_rows(slow_p, lambda n: sma(bars.close, n), memo=bars, key="sma")
    expected = _reference(sma(bars.close, fast_p), sma(bars.close, slow_p))
    assert fast.shape == (5, 200)
    assert torch.equal(crossover_state(fast, slow), expected)
    assert torch.equal(crossover_state(fast, sma(bars.close, slow_p)), expected)
    # Blocks of several rows (a short series) take the same path as one row at a time.
    monkeypatch.setattr("torchtrader.strategies.signals._BLOCK_ELEMENTS", 450)
    assert torch.equal(crossover_state(fast, slow), expected)
