"""The lookahead check: positions computed on a prefix of the bars must equal the full-series positions.

A strategy that decides bar t from bars 0..t only gives the same ``positions[..., :n]`` whether it sees
``n`` bars or all of them. The check runs the strategy on the full series and on ``n_prefixes`` prefixes
(the shortest ones, to catch warm-up tricks, plus seeded random lengths, plus ``len - 1``), and reports
the earliest bar where any prefix disagrees. Positions are compared with an absolute tolerance of 1e-9
(indicator sums may round differently on different lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import torch

from torchtrader.strategies.base import Bars, ParamBatch, Strategy, StrategyParams
from torchtrader.strategies.fence import run_positions
from torchtrader.strategies.params import format_params

TOLERANCE = 1e-9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LookaheadReport:
    """Outcome of ``check_lookahead``; ``first_bad_*`` are None when ``ok``."""

    ok: bool
    strategy: str
    params: StrategyParams
    n_bars: int
    prefixes_checked: int
    first_bad_bar: int | None = None
    first_bad_ts: datetime | None = None
    prefix_length: int | None = None
    prefix_position: float | None = None
    full_position: float | None = None

    def message(self) -> str:
        """One line for the terminal."""
        params = format_params(self.params)
        if self.ok:
            return (
                f"lookahead check passed: strategy '{self.strategy}' ({params}) gives the same positions on "
                f"{self.prefixes_checked} prefixes as on all {self.n_bars} bars"
            )
        when = self.first_bad_ts.isoformat() if self.first_bad_ts is not None else "?"
        return (
            f"lookahead detected: strategy '{self.strategy}' ({params}) "
            f"at bar {self.first_bad_bar} ({when}): "
            f"position {self.prefix_position} on the {self.prefix_length}-bar prefix but "
            f"{self.full_position} on all {self.n_bars} bars"
        )


def prefix_lengths(n_bars: int, n_prefixes: int, seed: int = 0) -> list[int]:
    """Prefix lengths to test: 1..5, ``n_bars - 1`` and seeded random ones, sorted, at most ``n_prefixes``."""
    if n_bars < 2 or n_prefixes < 1:
        return []
    fixed = [n for n in (1, 2, 3, 4, 5, n_bars - 1) if n < n_bars]
    chosen = list(dict.fromkeys(fixed))[:n_prefixes]
    pool = np.setdiff1d(np.arange(1, n_bars), chosen)
    extra = min(n_prefixes - len(chosen), len(pool))
    if extra > 0:
        rng = np.random.default_rng(seed)
        chosen.extend(int(n) for n in rng.choice(pool, size=extra, replace=False))
    return sorted(chosen)


def check_lookahead(
    strategy: Strategy,
    bars: Bars,
    params: StrategyParams,
    *,
    n_prefixes: int = 50,
    seed: int = 0,
) -> LookaheadReport:
    """Compare the positions of ``strategy`` on prefixes of ``bars`` with those on the full series."""
    name = str(getattr(type(strategy), "name", type(strategy).__name__))
    batch = ParamBatch.from_params([params], device=bars.device, dtype=bars.dtype)
    full = run_positions(strategy, bars, batch)[0]
    lengths = prefix_lengths(len(bars), n_prefixes, seed)
    worst: tuple[int, int, float, float] | None = None  # bar, prefix length, prefix value, full value
    for length in lengths:
        part = run_positions(strategy, bars.slice(length), batch)[0]
        differs = (part - full[:length]).abs() > TOLERANCE
        if bool(differs.any()):
            bar = int(torch.nonzero(differs)[0, 0])
            if worst is None or bar < worst[0]:
                worst = (bar, length, float(part[bar]), float(full[bar]))
    if worst is None:
        return LookaheadReport(True, name, params, len(bars), len(lengths))
    bar, length, prefix_value, full_value = worst
    return LookaheadReport(
        ok=False,
        strategy=name,
        params=params,
        n_bars=len(bars),
        prefixes_checked=len(lengths),
        first_bad_bar=bar,
        first_bad_ts=_timestamp(bars, bar),
        prefix_length=length,
        prefix_position=prefix_value,
        full_position=full_value,
    )


def _timestamp(bars: Bars, index: int) -> datetime | None:
    if index >= len(bars.ts):
        return None
    return _EPOCH + timedelta(microseconds=int(bars.ts[index]) // 1000)
