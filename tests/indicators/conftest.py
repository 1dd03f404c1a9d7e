"""Fixtures of the indicator tests: the real S&P 500 daily sample (arch) and the kernel cases.

Any test taking ``case`` runs once per entry of ``CASES``: a kernel with one parameter set, next to
its TA-Lib twin (``torchtrader.indicators.parity.TWINS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from torchtrader.indicators import kernels
from torchtrader.indicators.parity import TWINS


@dataclass(frozen=True)
class Sample:
    """Daily OHLCV arrays (float64, oldest first)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def arrays(self, names: tuple[str, ...], stop: int | None = None) -> list[np.ndarray]:
        return [np.ascontiguousarray(getattr(self, name)[:stop]) for name in names]

    def tensors(
        self, names: tuple[str, ...], dtype: torch.dtype = torch.float64, stop: int | None = None
    ) -> list[torch.Tensor]:
        return [torch.tensor(a, dtype=dtype) for a in self.arrays(names, stop)]


@pytest.fixture(scope="session")
def sp500() -> Sample:
    from arch.data import sp500 as data

    frame = data.load()

    def column(name: str) -> np.ndarray:
        return np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64))

    return Sample(column("Open"), column("High"), column("Low"), column("Close"), column("Volume"))


@dataclass(frozen=True)
class Case:
    """One kernel call with fixed parameters, and the TA-Lib function it must reproduce."""

    name: str
    kernel: Callable[..., Any]
    talib_fn: Callable[..., Any]
    inputs: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    periods: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return "-".join([self.name, *(str(v) for v in self.params.values())])


def _twin(name: str, **params: Any) -> Case:
    t = TWINS[name]
    return Case(name, t.kernel, t.talib_fn, t.inputs, params, t.periods)


def _talib_bbands(close: np.ndarray, timeperiod: int, nbdevup: float, nbdevdn: float) -> Any:
    """TA-Lib BBANDS, except a zero width where the window is constant (TA-Lib MAX == MIN).

    There TA-Lib's E[x^2] - mean^2 is pure round-off (widths ~1e-4 at index prices, sign by
    luck); the kernel returns the exact answer, 0.
    """
    import talib

    upper, middle, lower = talib.BBANDS(close, timeperiod, nbdevup, nbdevdn)
    flat = (
        talib.MAX(close, timeperiod) == talib.MIN(close, timeperiod) if timeperiod > 1 else middle == middle
    )
    return np.where(flat, middle, upper), middle, np.where(flat, middle, lower)


def _talib_mfi(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, timeperiod: int
) -> Any:
    """TA-Lib MFI, made exact where one side of the window holds no money flow (counted with numpy).

    There TA-Lib's running sums keep round-off residues of flows that already left the window, so
    it prints e.g. 1.4e-10 instead of 0 (no positive flow) or 99.99999 instead of 100 (no negative
    flow); the kernel counts flows and returns the exact value.
    """
    import talib

    value = talib.MFI(high, low, close, volume, timeperiod)
    typical = (high + low + close) / 3.0
    up, down = np.zeros(len(close), dtype=bool), np.zeros(len(close), dtype=bool)
    flow = typical * volume
    up[1:] = (typical[1:] > typical[:-1]) & (flow[1:] != 0)
    down[1:] = (typical[1:] < typical[:-1]) & (flow[1:] != 0)

    def in_window(flags: np.ndarray) -> np.ndarray:
        return np.convolve(flags.astype(float), np.ones(timeperiod))[: len(close)]

    ups, downs = in_window(up), in_window(down)
    exact = np.where(ups == 0, 0.0, np.where(downs == 0, 100.0, value))
    return np.where(np.isnan(value), value, exact)


def _cases() -> list[Case]:
    import talib

    single = ["sma", "ema", "wma", "dema", "tema", "rsi", "rolling_max", "rolling_min", "mom", "roc"]
    single += ["atr", "natr", "adx", "cci", "willr"]
    cases = [_twin(name, timeperiod=p) for p in (2, 14, 50) for name in single]
    cases += [
        Case(
            "mfi",
            kernels.mfi,
            _talib_mfi,
            ("high", "low", "close", "volume"),
            {"timeperiod": p},
            ("timeperiod",),
        )
        for p in (2, 14, 50)
    ]
    cases += [_twin(name, timeperiod=1) for name in ("sma", "ema", "wma", "atr", "natr", "mom")]
    cases += [
        Case(
            "bbands",
            kernels.bbands,
            _talib_bbands,
            ("close",),
            {"timeperiod": p, "nbdevup": 2.0, "nbdevdn": 1.5},
            ("timeperiod",),
        )
        for p in (2, 20, 80)
    ]
    cases += [
        _twin("macd", fastperiod=12, slowperiod=26, signalperiod=9),
        _twin("macd", fastperiod=3, slowperiod=10, signalperiod=1),
        _twin("macd", fastperiod=30, slowperiod=8, signalperiod=5),  # TA-Lib swaps fast and slow
        _twin("stoch", fastk_period=5, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0),
        _twin("stoch", fastk_period=14, slowk_period=5, slowk_matype=1, slowd_period=4, slowd_matype=1),
        _twin("stochrsi", timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0),
        _twin("stochrsi", timeperiod=9, fastk_period=9, fastd_period=2, fastd_matype=1),
        _twin("obv"),
        _twin("trange"),
        Case(
            "donchian",
            lambda high, low, timeperiod: kernels.donchian(high, low, timeperiod),
            lambda high, low, timeperiod: (
                talib.MAX(high, timeperiod),
                (talib.MAX(high, timeperiod) + talib.MIN(low, timeperiod)) / 2.0,
                talib.MIN(low, timeperiod),
            ),
            ("high", "low"),
            {"timeperiod": 20},
            ("timeperiod",),
        ),
    ]
    return cases


CASES = _cases()


@pytest.fixture(scope="session")
def all_cases() -> list[Case]:
    return CASES


# kernel tests run on both implementations: the compiled CPU loops (what CPU users get) and the
# torch path (what CUDA runs), each against TA-Lib
BACKENDS = ("compiled", "torch")


@pytest.fixture(autouse=True)
def kernel_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    name = getattr(request, "param", "auto")
    with kernels.backend(name):
        yield name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.path.name.startswith("test_kernel"):
        metafunc.parametrize("kernel_backend", BACKENDS, indirect=True)
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", CASES, ids=[c.id for c in CASES])
    if "period_case" in metafunc.fixturenames:
        with_periods = [c for c in CASES if c.periods]
        metafunc.parametrize("period_case", with_periods, ids=[c.id for c in with_periods])
