"""The whole TA-Lib catalogue as declarative features: declare in code or TOML, compute on bars.

A ``FeatureSpec`` names one TA-Lib function (any of ``talib.get_functions()``), its parameters
(missing ones take TA-Lib's defaults) and, optionally, which bars columns feed its inputs. Each
output becomes one column: ``sma_20``, ``macd_12_26_9_macdsignal`` (function, parameter values in
TA-Lib's order, then the output name when there are several), or ``<name>_<output>`` when the spec
sets ``name``. A ``FeatureSet`` is a list of specs with unique columns; ``load_feature_set`` reads
one from TOML::

    [[feature]]
    function = "SMA"
    params = { timeperiod = 20 }

    [[feature]]
    function = "BBANDS"
    name = "bb"
    params = { timeperiod = 20, nbdevup = 2.0, nbdevdn = 2.0 }
    inputs = { price = "open" }      # default: close

Mistakes (unknown function, parameter or input, wrong types, clashing columns) raise
``ConfigError`` with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import logging
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import talib
from pydantic import BaseModel, ConfigDict, Field, model_validator
from talib import abstract

from torchtrader.errors import ConfigError

logger = logging.getLogger(__name__)

SERIES_KEYS = ("source", "symbol", "timeframe")


class FunctionInfo(BaseModel):
    """What TA-Lib says about one function: inputs (slot -> default column), parameters, outputs."""

    model_config = ConfigDict(frozen=True)

    name: str
    group: str
    inputs: tuple[tuple[str, str], ...]
    parameters: tuple[tuple[str, int | float], ...]
    outputs: tuple[str, ...]


@cache
def catalogue() -> dict[str, FunctionInfo]:
    """Every TA-Lib function by upper-case name, from ``talib.abstract``'s own metadata."""
    functions: dict[str, FunctionInfo] = {}
    function_of = abstract.Function  # type: ignore[attr-defined]
    for name in talib.get_functions():  # type: ignore[no-untyped-call]
        info = function_of(name).info
        slots: list[tuple[str, str]] = []
        for key, value in info["input_names"].items():
            # "prices": ["high", "low", "close"] names columns; "price": "close" names one slot
            slots += [(column, column) for column in value] if isinstance(value, list) else [(key, value)]
        functions[name] = FunctionInfo(
            name=name,
            group=str(info["group"]),
            inputs=tuple(slots),
            parameters=tuple((str(k), v) for k, v in info["parameters"].items()),
            outputs=tuple(str(o) for o in info["output_names"]),
        )
    return functions


def _hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _label(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace(".", "p").replace("-", "m")


class FeatureSpec(BaseModel):
    """One TA-Lib function with parameters and input columns; frozen and validated on creation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    function: str
    params: dict[str, int | float] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                hint = _hint(unknown[0], list(cls.model_fields))
                raise ConfigError(f"feature spec: unknown key '{unknown[0]}'{hint}")
            function = data.get("function")
            if not isinstance(function, str):
                raise ConfigError(f"feature spec needs a TA-Lib function name, got {function!r}")
            upper = function.strip().upper()
            if upper not in catalogue():
                raise ConfigError(f"unknown TA-Lib function '{function}'{_hint(upper, list(catalogue()))}")
            data = {**data, "function": upper}
        return data

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        info = self.info
        defaults = dict(info.parameters)
        for key, value in self.params.items():
            if key not in defaults:
                raise ConfigError(f"{self.function}: unknown parameter '{key}'{_hint(key, list(defaults))}")
            if isinstance(defaults[key], int) and not float(value).is_integer():
                raise ConfigError(f"{self.function}: parameter '{key}' must be an integer, got {value!r}")
        slots = [slot for slot, _ in info.inputs]
        for key in self.inputs:
            if key not in slots:
                raise ConfigError(
                    f"{self.function}: unknown input '{key}'{_hint(key, slots)}; inputs: {slots}"
                )
        if self.name is not None and not self.name.strip():
            raise ConfigError(f"{self.function}: feature name must not be empty")
        return self

    @property
    def info(self) -> FunctionInfo:
        return catalogue()[self.function]

    @property
    def resolved_params(self) -> dict[str, int | float]:
        """All parameters in TA-Lib's order, defaults filled in, integers as ``int``."""
        resolved: dict[str, int | float] = {}
        for key, default in self.info.parameters:
            value = self.params.get(key, default)
            resolved[key] = int(value) if isinstance(default, int) else float(value)
        return resolved

    @property
    def columns(self) -> list[str]:
        """Output column names, one per TA-Lib output."""
        prefix = self.name or "_".join(
            [self.function.lower(), *(_label(v) for v in self.resolved_params.values())]
        )
        outputs = self.info.outputs
        return [prefix] if len(outputs) == 1 else [f"{prefix}_{o}" for o in outputs]

    def input_columns(self) -> list[str]:
        """The bars column feeding each TA-Lib input slot, in call order."""
        return [self.inputs.get(slot, default) for slot, default in self.info.inputs]

    def compute(self, frame: pl.DataFrame) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
        """This feature on one series (rows sorted by time): column name -> float64 values."""
        missing = [c for c in self.input_columns() if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"{self.function}: bars have no column {missing[0]!r} (columns: {frame.columns})"
            )
        arrays = [np.ascontiguousarray(frame[c].to_numpy(), dtype=np.float64) for c in self.input_columns()]
        fn = getattr(talib, self.function)
        try:
            result = fn(*arrays, **self.resolved_params)
        except Exception as exc:  # TA-Lib reports bad parameter values as plain exceptions
            raise ConfigError(f"{self.function}{self.resolved_params}: {exc}") from exc
        values = result if isinstance(result, tuple | list) else (result,)
        return {col: np.asarray(v, dtype=np.float64) for col, v in zip(self.columns, values, strict=True)}


class FeatureSet(BaseModel):
    """Features computed together; their output columns must be unique."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[FeatureSpec, ...]

    @model_validator(mode="after")
    def _unique(self) -> FeatureSet:
        seen: set[str] = set()
        for spec in self.features:
            for column in spec.columns:
                if column in seen or column in ("ts", *SERIES_KEYS):
                    raise ConfigError(f"feature column '{column}' is declared twice; set a distinct name")
                seen.add(column)
        return self

    @classmethod
    def of(cls, *specs: FeatureSpec | Mapping[str, Any]) -> FeatureSet:
        """A set from specs or plain dicts (``{"function": "SMA", "params": {...}}``)."""
        return cls(features=tuple(s if isinstance(s, FeatureSpec) else FeatureSpec(**s) for s in specs))

    @property
    def columns(self) -> list[str]:
        return [column for spec in self.features for column in spec.columns]


def load_feature_set(path: str | Path) -> FeatureSet:
    """A feature set from a TOML file of ``[[feature]]`` tables."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"feature set file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"feature"})
    if extra:
        raise ConfigError(f"{path}: unknown table '{extra[0]}'{_hint(extra[0], ['feature'])}")
    entries = document.get("feature", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: declare at least one [[feature]] table")
    specs = []
    for i, entry in enumerate(entries, start=1):
        try:
            specs.append(FeatureSpec(**entry))
        except ConfigError as exc:
            raise ConfigError(f"{path}: feature #{i}: {exc}") from None
    return FeatureSet(features=tuple(specs))


def compute_features(bars: pl.DataFrame, feature_set: FeatureSet) -> pl.DataFrame:
    """Every feature of the set on every series of a bars frame.

    Series are told apart by the ``source``/``symbol``/``timeframe`` columns present; each is sorted
    by ``ts`` before computing. The result holds those key columns, ``ts`` and one Float64 column
    per feature output (null during warm-up), in the same series/time order.
    """
    if "ts" not in bars.columns:
        raise ConfigError(f"bars need a 'ts' column, got {bars.columns}")
    keys = [k for k in SERIES_KEYS if k in bars.columns]
    parts = bars.partition_by(keys, maintain_order=True) if keys else [bars]
    frames = []
    for part in parts:
        series = part.sort("ts")
        columns: dict[str, Any] = {k: series[k] for k in keys}
        columns["ts"] = series["ts"]
        for spec in feature_set.features:
            # warm-up NaN becomes null: the idiomatic "no value" for polars, DuckDB SQL and the lake;
            # converted while building each column, not in a second pass over the finished frame
            for column, values in spec.compute(series).items():
                columns[column] = pl.Series(column, values, dtype=pl.Float64, nan_to_null=True)
        frames.append(pl.DataFrame(columns))
    if not frames:
        return pl.DataFrame(
            {k: bars[k] for k in [*keys, "ts"]}
            | {c: pl.Series(c, [], pl.Float64) for c in feature_set.columns}
        )
    result = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")
    logger.debug("computed %d feature columns on %d series", len(feature_set.columns), len(frames))
    return result
