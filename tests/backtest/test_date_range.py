"""Date ranges: `start <= ts < end` is traded, earlier bars only warm indicators up.

Specification (runner.backtest / runner.sweep / load_bars, `--start/--end` on the CLI):

- the strategy decides on the warm-up bars too (up to its ``warmup(params)``; a sweep uses the largest
  of its combos), but trading starts flat at the first bar in range;
- trades, equity and metrics cover the range only; a position still open at the end closes at the
  last close in range (exit reason "end");
- both engines agree trade for trade on a ranged run;
- the JSON records the range; a range with no bars is one line on stderr and exit 1.

Data: real S&P 500 daily bars (arch.data via the offline sample source), 2014–2018.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from torch import Tensor

from tests.backtest.test_parity import ALTERNATIVES, assert_same_run
from torchtrader.backtest import runner
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.engine import run_backtest
from torchtrader.errors import ConfigError
from torchtrader.lake import Lake
from torchtrader.strategies import Bars, ParamBatch, Strategy, load_strategy, parse_params
from torchtrader.testing.market import sample_frame

COSTS = BacktestConfig(initial_cash=100_000.0, fee=0.001, slippage_bps=5)
START = datetime(2016, 3, 1, tzinfo=UTC)
END = datetime(2017, 6, 1, tzinfo=UTC)
SPX = runner.SeriesRef("SPX")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("range") / "lake"))
    lake.upsert_bars(sample_frame("SPX", date(2014, 1, 1), date(2018, 12, 31)))
    return lake


@pytest.fixture(scope="module")
def spx_ts(lake: Lake) -> list[datetime]:
    return list(lake.read_bars("SPX", "1d")["ts"].to_list())


@pytest.fixture
def user_dir(tmp_path: Path) -> str:
    """A user strategy: long from the first bar whose trailing ``period``-bar window is complete, so
    the decision at a bar shows whether the warm-up bars reached the strategy."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "long_once_warm.py").write_text(
        "import torch\n"
        "from torchtrader.strategies import Strategy, StrategyParams\n"
        "class LongOnceWarm(Strategy):\n"
        "    name = 'long_once_warm'\n"
        "    class Params(StrategyParams):\n"
        "        period: int = 20\n"
        "    def positions(self, bars, p):\n"
        "        out = torch.zeros((p.size, len(bars)), dtype=bars.dtype)\n"
        "        out[:, int(p.period[0]) - 1 :] = 1.0\n"
        "        return out\n"
        "    def warmup(self, params):\n"
        "        return params.period\n"
    )
    return str(folder)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("sma_cross", ALTERNATIVES["sma_cross"]), ("macd_trend", ALTERNATIVES["macd_trend"]),
     ("donchian_breakout", {}), ("rsi_reversion", ALTERNATIVES["rsi_reversion"])],
)  # fmt: skip
def test_both_engines_agree_trade_for_trade_on_a_range(lake: Lake, strategy: str, params: Any) -> None:
    vector = runner.backtest(lake, SPX, strategy, params, COSTS, start=START, end=END)
    oracle = runner.backtest(lake, SPX, strategy, params, COSTS, engine="backtrader", start=START, end=END)
    assert oracle.trades, "a parity run without trades proves nothing"
    assert_same_run(vector, oracle)


@pytest.mark.parametrize("engine", runner.ENGINES)
def test_metrics_and_equity_cover_the_range_only(lake: Lake, spx_ts: list[datetime], engine: Any) -> None:
    result = runner.backtest(lake, SPX, "sma_cross", {"fast": 5, "slow": 50}, COSTS, engine=engine,
                             start=START, end=END)  # fmt: skip
    inside = [t for t in spx_ts if START <= t < END]
    assert result.equity["ts"].to_list() == inside
    assert result.equity["equity"][0] == COSTS.initial_cash  # flat at the first bar in range
    assert all(t.entry_time > START and t.exit_time < END for t in result.trades)
    last = result.trades[-1]
    # sma_cross(5, 50) is long through May 2017: the position open at the end closes at the last close
    assert (last.exit_reason, last.exit_time) == ("end", inside[-1])
    assert result.metrics.total_return == pytest.approx(result.final_equity / COSTS.initial_cash - 1)
    doc = result.to_json()
    assert (doc["start"], doc["end"]) == ("2016-03-01T00:00:00+00:00", "2017-06-01T00:00:00+00:00")


def test_warm_up_bars_feed_the_strategy_and_trading_starts_flat(
    lake: Lake, spx_ts: list[datetime], user_dir: str
) -> None:
    inside = [t for t in spx_ts if t >= START]
    result = runner.backtest(lake, SPX, "long_once_warm", {"period": 20}, start=START,
                             strategies_dir=user_dir)  # fmt: skip
    # 20 warm-up bars: the decision at the first bar in range is already long, so the first fill is
    # the next bar's open (never the first bar's: trading starts flat there).
    (trade,) = result.trades
    assert trade.entry_time == inside[1]
    # without a warm-up the same window needs 19 of its own bars before the first long decision
    cold = runner.backtest(lake, SPX, "long_once_warm", {"period": 20}, start=START, warmup=0,
                           strategies_dir=user_dir)  # fmt: skip
    assert cold.trades[0].entry_time == inside[20]


def test_load_bars_brings_at_most_the_warm_up_asked_for(lake: Lake, spx_ts: list[datetime]) -> None:
    bars, version = runner.load_bars(lake, SPX, start=START, end=END, warmup=30)
    assert version == lake.version("bars")
    first_in = spx_ts.index(min(t for t in spx_ts if t >= START))
    assert runner.trade_start(bars, START) == 30
    assert int(bars.ts[0]) == int(spx_ts[first_in - 30].timestamp()) * 10**9
    # at the start of the data there is less history than asked for: all of it comes
    early, _ = runner.load_bars(lake, SPX, start=spx_ts[5], warmup=100)
    assert runner.trade_start(early, spx_ts[5]) == 5
    assert len(early) == len(spx_ts)


def test_a_sweep_row_is_the_backtest_with_the_sweeps_warm_up(lake: Lake) -> None:
    ranges = {"fast": [5, 10], "slow": [20, 50]}
    swept = runner.sweep(lake, SPX, "sma_cross", ranges, COSTS, top_k=4, start=START, end=END)
    assert (swept.start, swept.end) == (START, END)
    warmup = 51  # sma_cross warms up slow + 1 bars: the sweep feeds every combo its largest
    for best in swept.top:
        alone = runner.backtest(
            lake, SPX, "sma_cross", best.params, COSTS, start=START, end=END, warmup=warmup
        )
        assert [t.to_json() for t in alone.trades] == [t.to_json() for t in best.trades]
        assert alone.metrics == best.metrics
        assert (best.start, best.end) == (START, END)


@pytest.mark.parametrize(
    ("start", "end", "culprit"),
    [(datetime(2030, 1, 1, tzinfo=UTC), None, "0 bar(s)"),
     (None, datetime(2000, 1, 1, tzinfo=UTC), "0 bar(s)"),
     (datetime(2016, 7, 4, tzinfo=UTC), datetime(2016, 7, 5, tzinfo=UTC), "0 bar(s)"),  # a holiday
     (END, START, "not after")],
)  # fmt: skip
def test_a_range_without_bars_is_a_one_line_error(
    lake: Lake, start: datetime | None, end: datetime | None, culprit: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(culprit)) as error:
        runner.backtest(lake, SPX, "sma_cross", {}, start=start, end=end)
    assert "\n" not in str(error.value)


# --- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake_root(lake: Lake) -> str:
    return lake.uri


def test_cli_backtest_and_sweep_record_the_range(
    run_cli: Callable[..., Any], lake_root: str, tmp_path: Path
) -> None:
    run = run_cli(lake_root, "backtest", "--symbol", "SPX", "--strategy", "sma_cross",
                  "--start", "2016-03-01", "--end", "2017-06-01T00:00:00+00:00",
                  "--fee", "0.001", "--slippage-bps", "5", "--cash", "100000", "--json", "-")  # fmt: skip
    assert run.code == 0, run.err
    doc = run.json()
    assert (doc["start"], doc["end"]) == ("2016-03-01T00:00:00+00:00", "2017-06-01T00:00:00+00:00")
    assert doc["trades"] and all("2016-03-01" < t["entry_time"] < "2017-06-01" for t in doc["trades"])
    sweep = run_cli(lake_root, "sweep", "--symbol", "SPX", "--strategy", "sma_cross",
                    "--grid", "fast=5,10", "--grid", "slow=20,50",
                    "--start", "2016-03-01", "--end", "2017-06-01", "--json", "-")  # fmt: skip
    assert sweep.code == 0, sweep.err
    assert (sweep.json()["start"], sweep.json()["end"]) == (doc["start"], doc["end"])


@pytest.mark.parametrize(
    ("args", "culprit"),
    [(["--start", "2030-01-01"], "0 bar(s)"),
     (["--start", "yesterday"], "--start: 'yesterday' is not an ISO-8601"),
     (["--end", "2016-13-01"], "--end: '2016-13-01' is not an ISO-8601"),
     (["--start", "2017-01-01", "--end", "2016-01-01"], "not after")],
)  # fmt: skip
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_cli_bad_ranges_fail_in_one_line(
    run_cli: Callable[..., Any], lake_root: str, tmp_path: Path, args: list[str], culprit: str, command: str
) -> None:
    out = tmp_path / "out.json"
    extra = ["--grid", "fast=5,10"] if command == "sweep" else []
    run = run_cli(lake_root, command, "--symbol", "SPX", "--strategy", "sma_cross", *extra, *args,
                  "--json", str(out))  # fmt: skip
    assert run.code == 1
    assert culprit in run.err
    assert run.err.count("\n") == 1 and run.err.startswith("error: ")
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


class FlatBefore(Strategy):
    """Another strategy's decisions, forced flat before bar ``k``: a full-series run of it is what a
    range starting at bar ``k`` (with all earlier bars as warm-up) must reproduce."""

    name = "flat_before"

    def __init__(self, inner: Strategy, k: int) -> None:
        self.inner, self.k = inner, k
        self.Params = inner.Params  # type: ignore[misc]

    def positions(self, bars: Bars, p: ParamBatch) -> Tensor:
        out = self.inner.positions(bars, p).clone()
        out[:, : self.k] = 0
        return out


@pytest.mark.parametrize("k", [1, 60, 333, 900])
@pytest.mark.parametrize(
    ("name", "params"), [("sma_cross", {"fast": 5, "slow": 50}), ("macd_trend", ALTERNATIVES["macd_trend"])]
)
def test_a_range_is_the_full_run_with_a_flat_prefix(k: int, name: str, params: dict[str, Any]) -> None:
    bars = Bars.from_frame(sample_frame("SPX", date(2014, 1, 1), date(2018, 12, 31)))
    cls = load_strategy(name)
    parsed = parse_params(cls, params)
    ranged = run_backtest(cls(), bars, parsed, COSTS, trade_from=k)
    full = run_backtest(FlatBefore(cls(), k), bars, parsed, COSTS)
    assert [t.to_json() for t in ranged.trades] == [t.to_json() for t in full.trades]
    assert ranged.equity["ts"].to_list() == full.equity["ts"].to_list()[k:]
    assert ranged.equity["equity"].to_list() == pytest.approx(full.equity["equity"].to_list()[k:], rel=1e-12)


def test_the_json_records_how_many_warm_up_bars_the_strategy_saw(lake: Lake) -> None:
    one = runner.backtest(lake, SPX, "sma_cross", {"fast": 5, "slow": 50}, start=START, end=END)
    assert one.to_json()["warmup_bars"] == 51
    swept = runner.sweep(lake, SPX, "sma_cross", {"fast": [5], "slow": [20, 80]}, start=START, end=END)
    assert swept.to_json()["warmup_bars"] == 81 == swept.top[0].warmup_bars
    assert runner.backtest(lake, SPX, "sma_cross", {}).to_json()["warmup_bars"] == 0
