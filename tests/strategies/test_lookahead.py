"""The lookahead check: prefix positions must equal full-series positions; peeking strategies fail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import torch
from torch import Tensor

from torchtrader.strategies import Bars, ParamBatch, Strategy, StrategyParams, check_lookahead
from torchtrader.strategies.lookahead import prefix_lengths


class PeeksAtTomorrow(Strategy):
    """Long today when tomorrow's close is higher: uses the close shifted backwards (a classic leak)."""

    name = "peeks_at_tomorrow"

    class Params(StrategyParams):
        threshold: float = 0.0

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        tomorrow = torch.cat([bars.close[1:], bars.close[-1:]])
        up = (tomorrow - bars.close) > p.threshold[:, None]
        return up.to(bars.dtype)


class NormalisesByTheFullSeries(Strategy):
    """Long while the close is above half of the series maximum: the maximum includes the future."""

    name = "normalises_by_full_series"

    class Params(StrategyParams):
        fraction: float = 0.5

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        level = bars.close.max() * p.fraction[:, None]
        return (bars.close > level).to(bars.dtype)


class RunningMaxIsFine(Strategy):
    """The same idea with the running maximum (known at every bar): no lookahead."""

    name = "running_max"

    class Params(StrategyParams):
        fraction: float = 0.5

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        level = bars.close.cummax(dim=-1).values * p.fraction[:, None]
        return (bars.close > level).to(bars.dtype)


def test_a_strategy_reading_tomorrows_close_fails_at_the_first_bar(bars_from: Callable[..., Bars]) -> None:
    bars = bars_from([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])  # always rising: every full position is 1
    report = check_lookahead(PeeksAtTomorrow(), bars, PeeksAtTomorrow.Params())
    assert not report.ok
    assert report.first_bad_bar == 0
    assert report.first_bad_ts == datetime(2024, 1, 1, tzinfo=UTC)
    assert report.prefix_length == 1
    assert (report.prefix_position, report.full_position) == (0.0, 1.0)
    assert report.strategy == "peeks_at_tomorrow"
    assert report.message() == (
        "lookahead detected: strategy 'peeks_at_tomorrow' (threshold=0.0) at bar 0 "
        "(2024-01-01T00:00:00+00:00): position 0.0 on the 1-bar prefix but 1.0 on all 8 bars"
    )


def test_peeking_strategies_fail_on_the_real_sample(spx: Bars) -> None:
    report = check_lookahead(PeeksAtTomorrow(), spx, PeeksAtTomorrow.Params(), n_prefixes=20)
    assert not report.ok
    assert report.first_bad_bar is not None and report.first_bad_ts is not None
    # the leak shows at the last bar of some prefix: the earliest one whose next close was higher
    assert report.prefix_length is not None and report.first_bad_bar == report.prefix_length - 1
    full = check_lookahead(
        NormalisesByTheFullSeries(), spx, NormalisesByTheFullSeries.Params(), n_prefixes=20
    )
    assert not full.ok


def test_a_causal_strategy_passes(spx: Bars) -> None:
    report = check_lookahead(RunningMaxIsFine(), spx, RunningMaxIsFine.Params(fraction=0.9), n_prefixes=20)
    assert report.ok
    assert report.prefixes_checked == 20 and report.n_bars == len(spx)
    assert report.message().startswith("lookahead check passed: strategy 'running_max' (fraction=0.9)")


def test_prefix_lengths_are_seeded_sorted_and_cover_the_start_and_the_end() -> None:
    lengths = prefix_lengths(1000, 50, seed=0)
    assert lengths == sorted(set(lengths)) and len(lengths) == 50
    assert lengths[:5] == [1, 2, 3, 4, 5] and lengths[-1] == 999
    assert prefix_lengths(1000, 50, seed=0) == lengths
    assert prefix_lengths(1000, 50, seed=1) != lengths
    assert prefix_lengths(4, 50) == [1, 2, 3]
    assert prefix_lengths(1, 50) == []
