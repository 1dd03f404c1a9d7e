"""A live (paper) bot trading ``ml_signal`` on a registered model: it predicts one window per cycle
(batch = 1) from the bars closed so far, and makes exactly the fills the backtest makes on the same
bars, which is only possible if every prediction used no later bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bots.conftest import hour
from torchtrader.backtest.config import BacktestConfig
from torchtrader.backtest.runner import SeriesRef, backtest, load_bars
from torchtrader.bots.config import make_bot_config, make_broker
from torchtrader.bots.cycle import run_cycle
from torchtrader.bots.store import StateStore
from torchtrader.ingest import ingest_source
from torchtrader.lake import Lake
from torchtrader.models.pipeline import train_model
from torchtrader.models.registry import promote
from torchtrader.models.training import TrainConfig
from torchtrader.sources.synthetic import SyntheticSource
from torchtrader.strategies.ml_signal import predictions

SERIES = SeriesRef("BTC/USDT", "1h", "synthetic")
COSTS = {"fee": 0.001, "slippage_bps": 5.0}
FIRST_CYCLE, LAST_CYCLE = 32, 96  # the model needs 30 closed bars (features 22 + lookback 8)


@pytest.mark.slow
def test_an_ml_signal_paper_bot_fills_exactly_like_the_backtest(
    tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHTRADER_MLFLOW_URI", mlflow_uri)  # ml_signal resolves models there
    # the model learns on its own lake (a year of the same synthetic series); the bot starts empty
    research = Lake(str(tmp_path / "research"))
    ingest_source(research, SyntheticSource(), "BTC/USDT", "1h", end=hour(2000), gx=False)
    config = TrainConfig(model="tcn", lookback=8, hidden=8, epochs=3, batch_size=64, device="cpu")
    trained = train_model(
        research, "BTC/USDT", config, tracking_uri=mlflow_uri, timeframe="1h", register_as="btc"
    )
    assert trained.registered is not None
    promote(mlflow_uri, "btc", trained.registered.version)

    # long above the median of the model's predictions over the bot's bars, so it trades both ways
    bars, _ = load_bars(research, SERIES, end=hour(LAST_CYCLE))
    probabilities = predictions(bars, "btc@champion")
    median = float(probabilities[~probabilities.isnan()].median())
    params = {"model": "btc@champion", "long_threshold": median, "short_threshold": 0.0}

    bot = make_bot_config(
        {"name": "ml", "strategy": "ml_signal", "params": params, "symbols": ["BTC/USDT"],
         "timeframe": "1h", "capital": 10_000.0, "lookback_bars": 10_000, **COSTS}
    )  # fmt: skip
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    bot_lake = Lake(str(tmp_path / "bot-lake"))
    broker = make_broker(bot, store=store, lake=bot_lake)
    for i in range(FIRST_CYCLE, LAST_CYCLE):
        report = run_cycle(bot, store, broker, bot_lake, now=hour(i))
        assert report.state == "running" and not report.discrepancies, report
    fills = store.fills("ml")
    assert len(fills) >= 4

    result = backtest(
        bot_lake,
        SERIES,
        "ml_signal",
        params,
        BacktestConfig(initial_cash=10_000.0, fees_in_sizing=True, **COSTS),
        start=hour(FIRST_CYCLE - 1),
    )
    expected = []
    for trade in result.trades:
        expected.append(("buy", trade.entry_time, trade.entry_price, trade.size))
        if trade.exit_reason != "end":
            expected.append(("sell", trade.exit_time, trade.exit_price, trade.size))
    actual = [(f.side, f.ts, f.price, f.qty) for f in fills]
    assert [(s, t) for s, t, _, _ in actual] == [(s, t) for s, t, _, _ in expected]
    for (_, _, price, qty), (_, _, want_price, want_qty) in zip(actual, expected, strict=True):
        assert price == pytest.approx(want_price, rel=1e-12)
        assert qty == pytest.approx(want_qty, rel=1e-9)
