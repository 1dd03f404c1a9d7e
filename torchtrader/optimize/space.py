"""Search spaces for tunes: parsed from ``--space`` or taken from the strategy's ``Search`` annotations.

Syntax, one parameter per spec: ``name=low:high[:step][:log]`` or ``name=v1,v2,...``.

* ``--search grid`` reads a spec exactly like ``sweep --grid`` (``runner.parse_grid``: stop inclusive,
  integers stay integers), so both cover the same combinations; ``low:high`` without a step means step 1
  for an integer parameter. A log scale has no meaning on a grid and is refused.
* ``random``/``bayes`` draw from the range: integers on the ``step`` lattice (default 1), floats
  uniformly (log-uniformly with ``log``; quantised to ``step`` when given), a list as categories.

Without specs, every parameter with a ``Search`` annotation is searched over it (a float without a
step becomes ten evenly spaced grid values); naming any spec searches only the named parameters, the
rest stay at their defaults, as in ``sweep``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from torchtrader.errors import ConfigError, StrategyError
from torchtrader.strategies import Strategy, StrategyParams

if TYPE_CHECKING:
    import optuna

Kind = Literal["int", "float", "categorical"]
SearchKind = Literal["grid", "random", "bayes"]
SEARCHES: tuple[SearchKind, ...] = ("grid", "random", "bayes")
DEFAULT_FLOAT_GRID_POINTS = 10
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a numeric range (``low``..``high`` inclusive) or a list of values."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    values: tuple[Any, ...] = ()

    def grid_values(self) -> list[Any]:
        if self.kind == "categorical":
            return list(self.values)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return [float(v) for v in np.linspace(self.low, self.high, DEFAULT_FLOAT_GRID_POINTS)]
        count = int((Decimal(str(self.high)) - Decimal(str(self.low))) / Decimal(str(self.step))) + 1
        return [float(Decimal(str(self.low)) + Decimal(str(self.step)) * i) for i in range(count)]

    def draw(self, rng: np.random.Generator) -> Any:
        if self.kind == "categorical":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "int":
            step = int(self.step or 1)
            if self.log:
                value = round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
                return int(self.low) + (value - int(self.low)) // step * step
            return int(self.low) + step * int(rng.integers((int(self.high) - int(self.low)) // step + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.step is not None:
            count = round((self.high - self.low) / self.step)
            return float(self.low + self.step * int(rng.integers(count + 1)))
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def spec(self) -> str:
        """The ``--space`` text that parses back into this dimension."""
        if self.kind == "categorical":
            return f"{self.name}={','.join(str(v) for v in self.values)}"
        bounds = [_plain(self.low, self.kind), _plain(self.high, self.kind)]
        if self.step is not None:
            bounds.append(_plain(self.step, self.kind))
        if self.log:
            bounds.append("log")
        return f"{self.name}=" + ":".join(bounds)


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions a tune explores, for one strategy and one search kind."""

    strategy: str
    search: SearchKind
    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def grid_ranges(self) -> dict[str, list[Any]]:
        """Values per parameter for a Cartesian grid (``strategies.grid_report`` validates combos)."""
        return {d.name: d.grid_values() for d in self.dimensions}

    def specs(self) -> list[str]:
        return [d.spec() for d in self.dimensions]

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "search": self.search, "space": self.specs()}


def parse_space(
    specs: Sequence[str], strategy_cls: type[Strategy], *, search: SearchKind = "grid"
) -> SearchSpace:
    """The search space of ``strategy_cls`` from ``specs`` (``--space``), or its Search annotations."""
    if search not in SEARCHES:
        raise ConfigError(f"unknown --search {search!r}: use one of {', '.join(SEARCHES)}")
    params = strategy_cls.Params
    label = str(getattr(strategy_cls, "name", strategy_cls.__name__))
    if specs:
        dims: list[Dimension] = []
        for spec in specs:
            dim = _parse_one(spec, params, label, search)
            if dim.name in {d.name for d in dims}:
                raise ConfigError(f"--space gives parameter {dim.name!r} twice")
            dims.append(dim)
    else:
        dims = [_from_annotation(name, search, params) for name in params.search_space()]
        if not dims:
            raise ConfigError(f"{label} declares no Search ranges: give --space name=low:high")
    return SearchSpace(strategy=label, search=search, dimensions=tuple(dims))


def _parse_one(spec: str, params: type[StrategyParams], label: str, search: SearchKind) -> Dimension:
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(f"bad --space {spec!r}: use name=low:high[:step][:log] or name=v1,v2,...")
    name, body = match.groups()
    _check_name(name, params, label)
    if not body:
        raise ConfigError(f"empty --space {spec!r}: give low:high or a list of values")
    kind = _kind_of(params, name)
    if ":" not in body:
        from torchtrader.backtest.runner import parse_grid

        values = _as_space(parse_grid, f"{name}={body}")
        return Dimension(name, "categorical", values=tuple(values))
    parts = [part.strip() for part in body.split(":")]
    log = parts[-1].lower() == "log"
    if log:
        parts = parts[:-1]
        if search == "grid":
            raise ConfigError(f"bad --space {spec!r}: a grid has no log scale (use random or bayes)")
    if len(parts) not in (2, 3):
        raise ConfigError(f"bad --space {spec!r}: use name=low:high[:step][:log]")
    if search == "grid":
        return _grid_dimension(spec, name, parts, kind)
    low, high = _number(spec, parts[0]), _number(spec, parts[1])
    step = _number(spec, parts[2]) if len(parts) == 3 else None
    return _checked(spec, Dimension(name, kind if kind != "categorical" else "float", low, high, step, log))


def _grid_dimension(spec: str, name: str, parts: list[str], kind: Kind) -> Dimension:
    from torchtrader.backtest.runner import parse_grid

    if len(parts) == 2:
        if kind != "int":
            raise ConfigError(f"bad --space {spec!r}: a grid over a float parameter needs low:high:step")
        parts = [*parts, "1"]
    values = _as_space(parse_grid, f"{name}={':'.join(parts)}")
    # The exact values sweep --grid would use; kept as a list so both read the same combos.
    return Dimension(name, "categorical", values=tuple(values))


def _as_space(parse_grid: Any, spec: str) -> list[Any]:
    try:
        return list(next(iter(parse_grid([spec]).values())))
    except ConfigError as error:
        raise ConfigError(str(error).replace("--grid", "--space")) from None


def _from_annotation(name: str, search: SearchKind, params: type[StrategyParams]) -> Dimension:
    meta = params.search_space()[name]
    kind = _kind_of(params, name)
    step = meta.step
    if kind == "int" and step is None:
        step = 1
    dim = Dimension(name, kind if kind != "categorical" else "float", meta.low, meta.high, step, meta.log)
    if search == "grid":
        dim = Dimension(name, "categorical", values=tuple(dim.grid_values()))
    return _checked(f"{name} (Search annotation)", dim) if search != "grid" else dim


def _checked(spec: str, dim: Dimension) -> Dimension:
    if dim.high < dim.low:
        raise ConfigError(f"inverted --space {spec}: high {dim.high} is below low {dim.low}")
    if dim.step is not None and dim.step <= 0:
        raise ConfigError(f"bad --space {spec}: step must be > 0")
    if dim.log and dim.low <= 0:
        raise ConfigError(f"bad --space {spec}: a log scale needs low > 0")
    if dim.log and dim.step is not None and dim.kind == "float":
        raise ConfigError(f"bad --space {spec}: a float range takes a step or log, not both")
    if dim.kind == "int" and not all(float(v).is_integer() for v in (dim.low, dim.high, dim.step or 1)):
        raise ConfigError(f"bad --space {spec}: {dim.name} is an integer parameter")
    if dim.kind == "int":
        return Dimension(dim.name, "int", int(dim.low), int(dim.high), int(dim.step or 1), dim.log)
    return dim


def _check_name(name: str, params: type[StrategyParams], label: str) -> None:
    known = list(params.model_fields)
    if name not in known:
        hint = difflib.get_close_matches(name, known, n=1)
        tail = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(known) or 'none'}"
        raise StrategyError(f"unknown parameter '{name}' for {label}{tail}")


def _kind_of(params: type[StrategyParams], name: str) -> Kind:
    annotation = params.model_fields[name].annotation
    if annotation is bool:
        return "categorical"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "categorical"


def _number(spec: str, text: str) -> float:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"bad --space {spec!r}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ConfigError(f"bad --space {spec!r}: {text!r} is not a finite number")
    return float(value)


def _plain(value: float, kind: Kind) -> str:
    return str(int(value)) if kind == "int" else repr(float(value))


def combo_key(params: Mapping[str, Any]) -> tuple[Any, ...]:
    """A hashable identity of one combination (for de-duplicating draws)."""
    return tuple(sorted(params.items()))
