"""The TA-Lib catalogue as declarative features: every function usable, declared in code or TOML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import talib

from torchtrader.errors import ConfigError
from torchtrader.indicators.catalogue import (
    FeatureSet,
    FeatureSpec,
    catalogue,
    compute_features,
    load_feature_set,
)


@pytest.fixture(scope="module")
def bars(sp500: Any) -> pl.DataFrame:
    """The S&P 500 sample as a canonical-looking bars frame (two symbols: the index and a copy x2)."""
    n = len(sp500.close)
    ts = pl.datetime_range(
        pl.datetime(2000, 1, 1, time_zone="UTC"),
        pl.datetime(2000, 1, 1, time_zone="UTC") + pl.duration(days=n - 1),
        "1d",
        eager=True,
    )

    def series(symbol: str, factor: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "source": "sample",
                "symbol": symbol,
                "timeframe": "1d",
                "ts": ts,
                **{name: getattr(sp500, name) * factor for name in ("open", "high", "low", "close")},
                "volume": sp500.volume,
            }
        )

    return pl.concat([series("SPX", 1.0), series("SPX2", 2.0)])


def test_catalogue_lists_every_talib_function_with_its_metadata() -> None:
    functions = catalogue()
    assert set(functions) == set(talib.get_functions())
    assert len(functions) > 150
    macd = functions["MACD"]
    assert macd.inputs == (("price", "close"),)
    assert dict(macd.parameters) == {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
    assert macd.outputs == ("macd", "macdsignal", "macdhist")
    assert functions["ATR"].inputs == (("high", "high"), ("low", "low"), ("close", "close"))


def test_every_catalogue_function_computes_on_sample_bars(bars: pl.DataFrame) -> None:
    """One spec per TA-Lib function with default parameters; MAVP reads its periods from a column."""
    frame = bars.filter(pl.col("symbol") == "SPX").head(600).with_columns(periods=pl.lit(10.0))
    specs = [FeatureSpec(function=name) for name in catalogue()]
    feature_set = FeatureSet(features=tuple(specs))
    result = compute_features(frame, feature_set)
    expected_columns = sum(len(info.outputs) for info in catalogue().values())
    assert len(feature_set.columns) == expected_columns
    assert result.columns == ["source", "symbol", "timeframe", "ts", *feature_set.columns]
    assert result.height == frame.height
    assert all(result.schema[c] == pl.Float64 for c in feature_set.columns)
    by_inputs: dict[tuple[str, ...], int] = {}
    for spec in specs:
        by_inputs[tuple(spec.input_columns())] = by_inputs.get(tuple(spec.input_columns()), 0) + 1
    # the catalogue spans every input shape TA-Lib has: close, OHLC, HLC, HL, HLCV, close+volume, ...
    assert len(by_inputs) >= 8
    # a function that is defined from the first bar on has no nulls
    assert result["obv"].null_count() == 0


def test_feature_values_equal_direct_talib_calls_per_symbol(bars: pl.DataFrame) -> None:
    feature_set = FeatureSet.of(
        {"function": "sma", "params": {"timeperiod": 20}},
        {"function": "MACD"},
        {
            "function": "BBANDS",
            "name": "bb",
            "params": {"timeperiod": 10, "nbdevup": 1.5},
            "inputs": {"price": "open"},
        },
        {"function": "ATR", "params": {"timeperiod": 7}},
    )
    assert feature_set.columns == [
        "sma_20",
        "macd_12_26_9_macd",
        "macd_12_26_9_macdsignal",
        "macd_12_26_9_macdhist",
        "bb_upperband",
        "bb_middleband",
        "bb_lowerband",
        "atr_7",
    ]
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=7)
    result = compute_features(shuffled, feature_set)
    for symbol in ("SPX", "SPX2"):
        rows = result.filter(pl.col("symbol") == symbol)
        source = bars.filter(pl.col("symbol") == symbol).sort("ts")
        assert rows["ts"].to_list() == source["ts"].to_list()
        close, open_ = source["close"].to_numpy(), source["open"].to_numpy()
        high, low = source["high"].to_numpy(), source["low"].to_numpy()
        expected = {
            "sma_20": talib.SMA(close, 20),
            "macd_12_26_9_macdsignal": talib.MACD(close, 12, 26, 9)[1],
            "bb_upperband": talib.BBANDS(open_, 10, 1.5, 2.0, 0)[0],
            "atr_7": talib.ATR(high, low, close, 7),
        }
        for column, values in expected.items():
            got = rows[column].to_numpy()  # nulls (warm-up) come back as NaN
            np.testing.assert_array_equal(np.isnan(got), np.isnan(values))
            np.testing.assert_allclose(got[~np.isnan(values)], values[~np.isnan(values)], rtol=1e-12)


def test_feature_set_loads_from_toml(tmp_path: Path, bars: pl.DataFrame) -> None:
    path = tmp_path / "features.toml"
    path.write_text(
        '[[feature]]\nfunction = "RSI"\nparams = { timeperiod = 9 }\n\n'
        '[[feature]]\nfunction = "STOCH"\nname = "st"\nparams = { fastk_period = 14 }\n'
    )
    feature_set = load_feature_set(path)
    assert feature_set.columns == ["rsi_9", "st_slowk", "st_slowd"]
    result = compute_features(bars.filter(pl.col("symbol") == "SPX"), feature_set)
    np.testing.assert_allclose(
        result["rsi_9"].to_numpy()[9:],
        talib.RSI(bars.filter(pl.col("symbol") == "SPX")["close"].to_numpy(), 9)[9:],
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"function": "SMAA"}, "unknown TA-Lib function 'SMAA' (did you mean 'SMA'?)"),
        (
            {"function": "SMA", "params": {"timeperoid": 3}},
            "unknown parameter 'timeperoid' (did you mean 'timeperiod'?)",
        ),
        ({"function": "SMA", "inputs": {"prise": "open"}}, "unknown input 'prise' (did you mean 'price'?)"),
        ({"funtion": "SMA"}, "unknown key 'funtion' (did you mean 'function'?)"),
        ({"function": "SMA", "params": {"timeperiod": 2.5}}, "must be an integer"),
        ({"function": 3}, "needs a TA-Lib function name"),
        ({"function": "SMA", "name": " "}, "must not be empty"),
    ],
)
def test_bad_specs_are_config_errors_with_hints(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FeatureSpec(**spec)
    assert message in str(caught.value)


def test_clashing_columns_missing_inputs_and_bad_values_are_config_errors(bars: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="'sma_5' is declared twice"):
        FeatureSet.of(
            {"function": "SMA", "params": {"timeperiod": 5}}, {"function": "sma", "params": {"timeperiod": 5}}
        )
    with pytest.raises(ConfigError, match="no column 'periods'"):
        compute_features(bars, FeatureSet.of({"function": "MAVP"}))
    with pytest.raises(ConfigError, match="SMA"):
        compute_features(bars, FeatureSet.of({"function": "SMA", "params": {"timeperiod": 0}}))
    with pytest.raises(ConfigError, match="'ts'"):
        compute_features(bars.drop("ts"), FeatureSet.of({"function": "SMA"}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[feature]]\nfunction = 'SMA'\n[[feature]]\nfunction = 'EMAX'\n",
            "feature #2: unknown TA-Lib function",
        ),
        ("[features]\nx = 1\n", "unknown table 'features' (did you mean 'feature'?)"),
        ("[[feature]\n", "not valid TOML"),
        ("", "at least one [[feature]]"),
    ],
)
def test_bad_toml_is_a_config_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_feature_set(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_toml_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_feature_set(tmp_path / "absent.toml")


def test_empty_bars_give_an_empty_frame_with_every_column(bars: pl.DataFrame) -> None:
    feature_set = FeatureSet.of({"function": "MACD"})
    result = compute_features(bars.head(0), feature_set)
    assert result.height == 0
    assert result.columns == ["source", "symbol", "timeframe", "ts", *feature_set.columns]
