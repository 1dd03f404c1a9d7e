"""The fence around strategy code: every call into a strategy goes through ``run_positions``.

Whatever a strategy raises becomes one ``StrategyError`` naming the strategy, the file and the line,
and whatever it returns is checked before an engine sees it. Choice documented in docs/strategies.md:
NaN positions (indicator warm-up) are mapped to 0 here, so authors need not remember to; infinities
and values outside [-1, 1] are errors.
"""

from __future__ import annotations

import inspect
import math
import traceback
from pathlib import Path
from types import TracebackType

import torch
from torch import Tensor

from torchtrader.errors import StrategyError
from torchtrader.strategies.base import Bars, ParamBatch, Strategy
from torchtrader.strategies.contract import describe_exception as describe_exception

# Values this close outside [-1, 1] are float noise (e.g. 0.1 * 10) and are clipped, not refused.
_RANGE_TOLERANCE = 1e-9


def strategy_file(cls: type[Strategy]) -> str:
    """The source file defining ``cls`` (``"<unknown>"`` for classes made in an interpreter)."""
    try:
        return str(Path(inspect.getfile(cls)).resolve())
    except (TypeError, OSError):
        return "<unknown>"


def blame(tb: TracebackType | None, preferred_file: str | None = None) -> tuple[str, int]:
    """File and line to name for an error: the deepest frame in ``preferred_file`` if any, else the
    deepest frame outside torch and the standard library, else the deepest frame."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return preferred_file or "<unknown>", 0
    if preferred_file is not None:
        for frame in reversed(frames):
            if _same_file(frame.filename, preferred_file):
                return frame.filename, frame.lineno or 0
    stdlib = str(Path(inspect.__file__).resolve().parent)
    torch_root = str(Path(torch.__file__).resolve().parent)
    for frame in reversed(frames):
        resolved = _resolve(frame.filename)
        if not resolved.startswith((stdlib, torch_root)) and "site-packages" not in resolved:
            return frame.filename, frame.lineno or 0
    return frames[-1].filename, frames[-1].lineno or 0


def run_positions(strategy: Strategy, bars: Bars, batch: ParamBatch) -> Tensor:
    """Target positions [batch.size, len(bars)] from ``strategy``, checked, NaN mapped to 0.

    Raises ``StrategyError`` (one line, naming strategy, file and line) when the strategy raises or
    returns something that is not a finite [combos, time] tensor of positions in [-1, 1] on the bars'
    device. Integer or boolean results are converted to the bars' dtype. On the happy path the result
    is the strategy's own tensor (no copy): treat it as read-only.
    """
    cls = type(strategy)
    name = getattr(cls, "name", cls.__name__)
    source = strategy_file(cls)
    try:
        result = strategy.positions(bars, batch)
    except Exception as error:
        file, line = blame(error.__traceback__, source)
        raise StrategyError(
            f"strategy '{name}' failed in {file} line {line}: {describe_exception(error)}"
        ) from error
    return _checked(result, bars, batch, f"strategy '{name}' ({source})")


def _checked(result: object, bars: Bars, batch: ParamBatch, who: str) -> Tensor:
    if not isinstance(result, Tensor):
        raise StrategyError(f"{who}: positions() returned {type(result).__name__}, expected a torch Tensor")
    expected = (batch.size, len(bars))
    if tuple(result.shape) != expected:
        raise StrategyError(
            f"{who}: positions() returned shape {tuple(result.shape)}, expected [combos, time] = {expected}"
        )
    if result.device != bars.device:
        raise StrategyError(
            f"{who}: positions() returned a tensor on {result.device}, bars are on {bars.device}"
        )
    if result.is_complex():
        raise StrategyError(f"{who}: positions() returned complex values")
    positions = result.to(bars.dtype)  # no copy when the dtype already matches
    if positions.numel() == 0:
        return positions
    # One reduction pass on the happy path; copies only when NaN must become 0 or noise be clipped.
    low, high = (float(v) for v in torch.aminmax(positions))
    if math.isnan(low) or math.isnan(high):
        positions = torch.nan_to_num(positions, nan=0.0, posinf=math.inf, neginf=-math.inf)
        low, high = (float(v) for v in torch.aminmax(positions))
    bound = 1.0 + _RANGE_TOLERANCE
    if not (-bound <= low and high <= bound):
        combo, bar = (int(i) for i in (~(positions.abs() <= bound)).nonzero()[0])
        value = float(positions[combo, bar])
        raise StrategyError(f"{who}: position {value} at combo {combo}, bar {bar} is outside [-1, 1]")
    if low < -1.0 or high > 1.0:
        positions = positions.clamp(-1.0, 1.0)
    return positions


def _resolve(filename: str) -> str:
    try:
        return str(Path(filename).resolve())
    except OSError:
        return filename


def _same_file(a: str, b: str) -> bool:
    return a == b or _resolve(a) == _resolve(b)
