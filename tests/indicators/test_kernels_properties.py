"""Properties every kernel must have, beyond the sample data.

* parity with TA-Lib on Hypothesis-generated bars (finite, positive, with ties and flat stretches);
* no lookahead: the result on a prefix equals the prefix of the result;
* shapes: [T] in and int parameters -> [T]; any batched input or parameter -> [B, T];
* a period longer than the series gives all NaN (as TA-Lib), so prefixes never raise;
* bad parameters and inputs raise ConfigError with a one-line message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchtrader.errors import ConfigError
from torchtrader.indicators import kernels
from torchtrader.indicators.parity import as_arrays, discrepancy


@st.composite
def bars(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """OHLCV bars with high >= close >= low > 0: a price path of bounded moves (flat bars included,
    so ties and constant windows occur), random ranges, zero or positive volume.

    Moves and ranges are exactly 0 or at least 1e-4 relative: differences of a few ulps turn ratio
    indicators (CCI, STOCH, ...) into pure round-off in every implementation, TA-Lib included.
    """
    size = draw(st.integers(min_value=1, max_value=90))

    def column(elements: st.SearchStrategy[float]) -> np.ndarray:
        return np.array(draw(st.lists(elements, min_size=size, max_size=size)))

    moves = column(st.one_of(st.just(0.0), st.floats(1e-4, 0.1), st.floats(-0.1, -1e-4)))
    close = draw(st.floats(1.0, 10_000.0)) * np.cumprod(1.0 + moves)
    up = column(st.one_of(st.just(0.0), st.floats(1e-4, 0.05)))
    # low never mirrors high around close: (high + low + close) / 3 would then equal the close up to
    # one ulp, and TA-Lib's C build rounds that typical price differently (MFI/CCI flip sign)
    down = 0.6180339887 * up + column(st.one_of(st.just(0.0), st.floats(1e-4, 0.05)))
    high, low = close * (1.0 + up), close * (1.0 - down)
    volume = column(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)))
    return {"close": close, "high": high, "low": low, "volume": volume}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=bars())
def test_hypothesis_bars_match_talib(case: Any, data: dict[str, np.ndarray]) -> None:
    arrays = [data[name] for name in case.inputs]
    ours = as_arrays(case.kernel(*(torch.tensor(a) for a in arrays), **case.params))
    reference = as_arrays(case.talib_fn(*arrays, **case.params))
    for i, (a, b) in enumerate(zip(ours, reference, strict=True)):
        # absolute floor: 1e-12 of the larger of the prices and an oscillator's 0..100 range
        scale = max(100.0, *(float(np.max(np.abs(x))) for x in arrays))
        problem = discrepancy(a, b, rtol=1e-9, scale=scale)
        assert problem is None, f"{case.id} output {i}: {problem}"


def test_prefix_result_equals_result_prefix(case: Any, sp500: Any) -> None:
    """No lookahead: bars after t never change the value at t."""
    inputs = sp500.tensors(case.inputs, stop=300)
    full = as_arrays(case.kernel(*inputs, **case.params))
    # Outputs that are price differences (MACD, MOM) sit near zero: the blocked scans of the torch path
    # round them at the scale of the prices they subtract (1e-16 of ~1500 here, and how the BLAS blocks
    # a prefix differs by CPU), so the absolute floor is 1e-15 of the price level, not of the output.
    scale = max(float(t.abs().max()) for t in inputs)
    for stop in (1, 2, 17, 64, 65, 150, 299):
        prefix = as_arrays(case.kernel(*sp500.tensors(case.inputs, stop=stop), **case.params))
        for i, (p, f) in enumerate(zip(prefix, full, strict=True)):
            assert p.shape == (stop,)
            problem = discrepancy(p, f[:stop], rtol=1e-12, floor=1e-3, scale=scale)
            assert problem is None, f"{case.id} output {i} prefix {stop}: {problem}"


def test_output_shapes_follow_the_batch_convention(case: Any, sp500: Any) -> None:
    single = case.kernel(*sp500.tensors(case.inputs, stop=120), **case.params)
    stacked = case.kernel(*(torch.stack([t, t]) for t in sp500.tensors(case.inputs, stop=120)), **case.params)
    for out in single if isinstance(single, tuple) else (single,):
        assert out.shape == (120,)
        assert out.dtype == torch.float64
    for out in stacked if isinstance(stacked, tuple) else (stacked,):
        assert out.shape == (2, 120)
    if case.periods:
        batched = {**case.params, case.periods[0]: torch.tensor([case.params[case.periods[0]]] * 3)}
        result = case.kernel(*sp500.tensors(case.inputs, stop=120), **batched)
        for out in result if isinstance(result, tuple) else (result,):
            assert out.shape == (3, 120)


def test_period_longer_than_series_is_all_nan_like_talib(case: Any, sp500: Any) -> None:
    if not case.periods:
        assert not np.isnan(as_arrays(case.kernel(*sp500.tensors(case.inputs, stop=5)))[0][1:]).any()
        return
    params = {**case.params, case.periods[0]: 40}
    ours = as_arrays(case.kernel(*sp500.tensors(case.inputs, stop=30), **params))
    reference = as_arrays(case.talib_fn(*sp500.arrays(case.inputs, stop=30), **params))
    for a, b in zip(ours, reference, strict=True):
        assert np.isnan(a).all()
        assert np.isnan(b).all()


def test_zero_period_is_a_config_error_naming_the_parameter(period_case: Any, sp500: Any) -> None:
    name = period_case.periods[0]
    with pytest.raises(ConfigError, match=name):
        period_case.kernel(*sp500.tensors(period_case.inputs, stop=50), **{**period_case.params, name: 0})


close = torch.linspace(1.0, 2.0, 50, dtype=torch.float64)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kernels.sma(close, -3), "timeperiod must be >= 1"),
        (lambda: kernels.rsi(close, 1), "timeperiod must be >= 2"),
        (lambda: kernels.sma(close, 2.5), "must be an int"),
        (lambda: kernels.sma(close, True), "must be an int"),
        (lambda: kernels.sma(close, torch.tensor([2.0, 3.0])), "must hold integers"),
        (lambda: kernels.sma(close, torch.tensor([[2, 3]])), "must be 1-D"),
        (lambda: kernels.sma(close, torch.tensor([], dtype=torch.int64)), "empty"),
        (lambda: kernels.sma(close.numpy(), 3), "must be torch tensors"),
        (lambda: kernels.sma(close.to(torch.int64), 3), "float32/float64"),
        (lambda: kernels.sma(close.reshape(1, 1, 50), 3), r"\[T\] or \[B, T\]"),
        (lambda: kernels.atr(close, close[:40], close, 3), "differ in length"),
        (lambda: kernels.atr(close, close.float(), close, 3), "differ in length, device or dtype"),
        (lambda: kernels.sma(torch.stack([close] * 3), torch.tensor([2, 3])), "disagree"),
        (lambda: kernels.stoch(close, close, close, slowk_matype=3), "matype 3"),
        (lambda: kernels.bbands(close, 5, nbdevup=float("nan")), "nbdevup must be finite"),
    ],
)
def test_bad_input_is_a_one_line_config_error(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_kernels_keep_float32_and_do_not_touch_inputs() -> None:
    x = torch.linspace(10.0, 20.0, 200, dtype=torch.float32)
    before = x.clone()
    upper, middle, lower = kernels.bbands(x, torch.tensor([5, 10]), 2.0, 2.0)
    assert upper.dtype == middle.dtype == lower.dtype == torch.float32
    assert torch.equal(x, before)
    assert bool((upper[:, 20:] >= middle[:, 20:]).all()) and bool((lower[:, 20:] <= middle[:, 20:]).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_results_equal_cpu_results(sp500: Any, all_cases: list[Any], kernel_backend: str) -> None:
    """CUDA runs the torch path: equal to the CPU torch path to 1e-12, to the compiled CPU loops
    (a different algorithm) within the TA-Lib parity tolerance."""
    rtol = 1e-12 if kernel_backend == "torch" else 1e-9
    for case in all_cases:
        cpu = as_arrays(case.kernel(*sp500.tensors(case.inputs), **case.params))
        with kernels.backend("auto"):
            gpu = as_arrays(case.kernel(*(t.cuda() for t in sp500.tensors(case.inputs)), **case.params))
        scale = float(np.nanmax(np.abs(sp500.close)))
        for a, b in zip(gpu, cpu, strict=True):
            assert discrepancy(a, b, rtol=rtol, scale=scale if rtol > 1e-12 else 0.0) is None, case.id
