"""Every torch kernel reproduces TA-Lib on the real S&P 500 sample: values and NaN warm-up.

Golden values come from TA-Lib itself (an independent C implementation): float64 within 1e-9
relative, float32 within 1e-3, single and batched calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from torchtrader.indicators.parity import as_arrays, discrepancy


def _assert_parity(ours: Any, reference: Any, rtol: float, label: str, floor: float = 1e-3) -> None:
    ours, reference = as_arrays(ours), as_arrays(reference)
    assert len(ours) == len(reference), label
    for i, (a, b) in enumerate(zip(ours, reference, strict=True)):
        problem = discrepancy(a, b, rtol, floor)
        assert problem is None, f"{label} output {i}: {problem}"


def test_float64_kernel_matches_talib_within_1e_9(case: Any, sp500: Any) -> None:
    ours = case.kernel(*sp500.tensors(case.inputs), **case.params)
    _assert_parity(ours, case.talib_fn(*sp500.arrays(case.inputs), **case.params), 1e-9, case.id)


def test_float32_kernel_tracks_talib_within_float32_precision(case: Any, sp500: Any) -> None:
    """Float32 in, float32 out; compared with TA-Lib on the same float32-rounded prices."""
    inputs = sp500.tensors(case.inputs, dtype=torch.float32)
    ours = case.kernel(*inputs, **case.params)
    for out in ours if isinstance(ours, tuple) else (ours,):
        assert out.dtype == torch.float32
    reference = case.talib_fn(*(x.double().numpy() for x in inputs), **case.params)
    _assert_parity(ours, reference, 1e-3, case.id, floor=1.0)


def _combos(case: Any) -> list[dict[str, Any]]:
    """Three parameter combinations around the case's own: each period shifted by 0, +1, +7."""
    combos = []
    for bump in (0, 1, 7):
        params = dict(case.params)
        for name in case.periods:
            params[name] = int(params[name]) + bump
        combos.append(params)
    return combos


def test_batched_periods_give_one_talib_row_per_combo(period_case: Any, sp500: Any) -> None:
    case = period_case
    combos = _combos(case)
    batched = dict(case.params)
    for name in case.periods:
        batched[name] = torch.tensor([c[name] for c in combos])
    result = as_arrays(case.kernel(*sp500.tensors(case.inputs), **batched))
    for row, params in enumerate(combos):
        assert all(r.shape == (len(combos), len(sp500.close)) for r in result)
        reference = case.talib_fn(*sp500.arrays(case.inputs), **params)
        _assert_parity([r[row] for r in result], reference, 1e-9, f"{case.id} combo {params}")


def test_batched_series_give_one_talib_row_per_series(case: Any, sp500: Any) -> None:
    """A [B, T] stack of different series with scalar parameters: row b is TA-Lib on series b."""
    arrays = sp500.arrays(case.inputs)
    variants = [arrays, [a[::-1].copy() for a in arrays], [a * 0.01 for a in arrays]]
    stacked = [torch.tensor(np.stack([v[j] for v in variants])) for j in range(len(arrays))]
    result = as_arrays(case.kernel(*stacked, **case.params))
    for row, variant in enumerate(variants):
        reference = case.talib_fn(*variant, **case.params)
        _assert_parity([r[row] for r in result], reference, 1e-9, f"{case.id} series {row}")
