"""Which implementation runs a kernel: TA-Lib's recurrences compiled for the CPU, or torch ops.

Every public kernel has one torch implementation (device-agnostic: the CUDA path, blocked scans
and prefix tables that parallelise over time) and, for CPU tensors, a compiled one (``_jit_smoothing``,
``_jit_windows``, ``_jit_oscillators``): TA-Lib's own recurrences compiled by numba, several combos
interleaved so a core overlaps their dependency chains. On a CPU the sequential recurrence does
one multiply-add per value where a parallel scan does dozens, so the compiled loop is what makes a
batch of windows at least as fast per core as TA-Lib.

``backend("torch")`` forces the torch path (tests run both; benchmarks compare them); the default
``"auto"`` takes the compiled path for CPU tensors. ``TORCHTRADER_KERNEL_BACKEND`` sets the default.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
from torch import Tensor

from torchtrader.errors import ConfigError

Backend = Literal["auto", "torch", "compiled"]
_CHOICES: tuple[Backend, ...] = ("auto", "torch", "compiled")


def _default() -> Backend:
    value = os.environ.get("TORCHTRADER_KERNEL_BACKEND", "auto")
    for choice in _CHOICES:
        if value == choice:
            return choice
    raise ConfigError(f"TORCHTRADER_KERNEL_BACKEND must be one of {', '.join(_CHOICES)}, got {value!r}")


_CURRENT: ContextVar[Backend | None] = ContextVar("torchtrader_kernel_backend", default=None)


def current() -> Backend:
    """The backend in force here: the innermost ``backend(...)`` block, else the env default."""
    chosen = _CURRENT.get()
    return chosen if chosen is not None else _default()


@contextmanager
def backend(name: Backend) -> Iterator[None]:
    """Run the kernels inside the block on ``name`` (``auto``, ``torch`` or ``compiled``)."""
    if name not in _CHOICES:
        raise ConfigError(f"kernel backend must be one of {', '.join(_CHOICES)}, got {name!r}")
    token = _CURRENT.set(name)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def compiled(*tensors: Tensor) -> bool:
    """Whether the compiled path takes these inputs: CPU tensors and a backend that allows it."""
    choice = current()
    if choice == "torch":
        return False
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    if choice == "compiled" and not on_cpu:
        raise ConfigError("kernel backend 'compiled' runs on CPU tensors only; use 'auto' or 'torch' on GPUs")
    return on_cpu


_LOOPS = {
    "smooth": "_jit_smoothing",
    "rsi": "_jit_smoothing",
    "macd": "_jit_smoothing",
    "cascade": "_jit_smoothing",
    "sma": "_jit_windows",
    "adx": "_jit_oscillators",
    "cci": "_jit_oscillators",
    "mfi": "_jit_oscillators",
    "fast_k": "_jit_oscillators",
    "wma": "_jit_windows",
    "bbands": "_jit_windows",
    "willr": "_jit_windows",
    "lagged": "_jit_windows",
}


def run(loop: str, *args: Tensor | bool | float) -> None:
    """Call a compiled loop on numpy views of CPU tensors (no copies; results land in the tensors).

    The loop modules are imported on first use, so a GPU-only process never loads numba. A
    ``[B, T]`` series broadcast from one row (stride 0) is passed as that row: the loops read row 0
    for every combo. 1-D parameters are made contiguous (one compiled specialisation for all).
    """
    module = importlib.import_module(f"torchtrader.indicators.kernels.{_LOOPS[loop]}")
    getattr(module, loop)(*(_numpy(a) if isinstance(a, Tensor) else a for a in args))


def _numpy(x: Tensor) -> np.ndarray[Any, Any]:
    x = x.detach()
    if x.dim() == 2 and x.shape[0] > 1 and x.stride(0) == 0:
        x = x[:1]
    elif x.dim() == 1:
        x = x.contiguous()
    return x.numpy()
