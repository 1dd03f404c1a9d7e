"""Properties (Hypothesis): helpers and built-ins never look ahead, and positions stay in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torchtrader.strategies import Bars, ParamBatch, builtin_strategies, run_positions
from torchtrader.strategies.signals import crossover_state, events_to_state, hold_last

DAY_NS = 86_400 * 10**9
# No wall-clock deadline: the machine is shared; example counts keep the file fast.
FAST = settings(max_examples=60, deadline=None)
SLOW = settings(max_examples=8, deadline=None)

levels = st.lists(st.integers(-3, 3), min_size=2, max_size=60)

# Built-ins that need more than bars (a registered MLflow model: ml_signal, tested with tests/models).
MODEL_DRIVEN = frozenset({"ml_signal"})


def series(values: list[int]) -> torch.Tensor:
    # Small integers make ties (fast == slow) frequent, the case most likely to be got wrong.
    return torch.tensor(values, dtype=torch.float64)


@FAST
@given(levels, levels, st.integers(1, 59))
def test_crossover_state_on_a_prefix_is_the_prefix_of_the_result(
    a: list[int], b: list[int], cut: int
) -> None:
    n = min(len(a), len(b))
    fast, slow = series(a[:n]), series(b[:n])
    full = crossover_state(fast, slow)
    cut = min(cut, n)
    assert crossover_state(fast[:cut], slow[:cut]).tolist() == full[:cut].tolist()
    assert set(full.tolist()) <= {0.0, 1.0}


@FAST
@given(
    st.lists(st.sampled_from([float("nan"), -1.0, 0.0, 0.5, 1.0]), min_size=1, max_size=80),
    st.integers(1, 80),
)
def test_hold_last_on_a_prefix_is_the_prefix_of_the_result(values: list[float], cut: int) -> None:
    signal = torch.tensor(values, dtype=torch.float64)
    full = hold_last(signal)
    assert hold_last(signal[:cut]).tolist() == full[:cut].tolist()
    assert not bool(torch.isnan(full).any())


@FAST
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_events_to_state_matches_a_loop(events: list[tuple[bool, bool]]) -> None:
    enter = torch.tensor([e for e, _ in events])
    exit_ = torch.tensor([x for _, x in events])
    expected, state = [], 0.0
    for e, x in events:
        state = 0.0 if x else (1.0 if e else state)
        expected.append(state)
    assert events_to_state(enter, exit_).tolist() == expected


def random_walk(seed: int, length: int) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, length)))
    spread = np.abs(rng.normal(0, 0.01, length)) * close
    to = lambda x: torch.from_numpy(np.ascontiguousarray(x))  # noqa: E731
    # irregular calendar: 1–3 days between bars so weeks have varying numbers of bars
    ts = (1_704_067_200 * 10**9 + DAY_NS * np.cumsum(rng.integers(1, 4, length))).astype(np.int64)
    return Bars(
        open=to(np.concatenate([[close[0]], close[:-1]])),
        high=to(close + spread),
        low=to(close - spread),
        close=to(close),
        volume=to(np.ones(length)),
        ts=ts,
    )


@SLOW
@given(st.integers(0, 2**32 - 1), st.integers(60, 400), st.data())
def test_builtins_on_random_walks_are_causal_and_bounded(seed: int, length: int, data: st.DataObject) -> None:
    bars = random_walk(seed, length)
    for name, cls in builtin_strategies().items():
        if name in MODEL_DRIVEN:
            continue
        params = cls.Params()
        full = run_positions(cls(), bars, ParamBatch.from_params([params]))
        assert bool((full.abs() <= 1).all()), name
        cut = data.draw(st.integers(1, length), label=f"cut for {name}")
        part = run_positions(cls(), bars.slice(cut), ParamBatch.from_params([params]))
        assert part[0].tolist() == full[0, :cut].tolist(), f"{name} looks ahead at cut {cut}"
