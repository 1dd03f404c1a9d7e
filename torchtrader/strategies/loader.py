"""Finding strategies: the built-ins, a folder of user files, or one file named on the command line.

A user file is imported under a private module name (``torchtrader_user_<stem>_<hash>``) so two files
with the same stem in different folders never collide. Every ``Strategy`` subclass *defined* in the file
(not merely imported into it) with a ``name`` is registered. Import failures, missing names and name
clashes become one-line ``StrategyError``s naming the file and line.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from torchtrader.errors import StrategyError
from torchtrader.strategies.contract import Strategy, StrategyParams, describe_exception

logger = logging.getLogger(__name__)

BUILTIN_MODULES = (
    "sma_cross",
    "ema_cross",
    "rsi_reversion",
    "bollinger_breakout",
    "macd_trend",
    "donchian_breakout",
    "weekly_trend",
    "ml_signal",
)
_USER_PACKAGE = "torchtrader_user"
_LOADED: dict[tuple[str, int, int], tuple[type[Strategy], ...]] = {}


@cache
def _builtins() -> tuple[type[Strategy], ...]:
    found: list[type[Strategy]] = []
    for stem in BUILTIN_MODULES:
        module = importlib.import_module(f"torchtrader.strategies.{stem}")
        found.extend(_strategies_in(module))
    return tuple(found)


def builtin_strategies() -> dict[str, type[Strategy]]:
    """The strategies shipped with Torch Trader, by name."""
    return {cls.name: cls for cls in _builtins()}


def discover_strategies(strategies_dir: str | Path | None) -> dict[str, type[Strategy]]:
    """Built-ins plus every strategy defined in the ``*.py`` files of ``strategies_dir``.

    Files starting with ``_`` are skipped (helpers a user file may import). A name used twice — by a
    built-in and a user file, or by two user files — is a ``StrategyError``.
    """
    registry = builtin_strategies()
    if strategies_dir is None:
        return registry
    folder = Path(strategies_dir).expanduser()
    if not folder.is_dir():
        raise StrategyError(f"strategies folder {folder} does not exist or is not a folder")
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for cls in load_file(path):
            clash = registry.get(cls.name)
            if clash is not None:
                where = "a built-in" if clash in _builtins() else f"{_file_of(clash)}"
                raise StrategyError(
                    f"strategy name '{cls.name}' in {path} is already used by {where}: rename one of them"
                )
            registry[cls.name] = cls
    return registry


def load_strategy(name_or_file: str, strategies_dir: str | Path | None = None) -> type[Strategy]:
    """A strategy class by registered name, by file (``path.py``) or by ``path.py:NAME``.

    ``NAME`` after the colon matches either the strategy's ``name`` or its class name. A file defining
    several strategies needs the ``:NAME`` suffix.
    """
    path_part, _, selector = name_or_file.partition(":") if ".py:" in name_or_file else (name_or_file, "", "")
    if path_part.endswith(".py"):
        return _pick(Path(path_part).expanduser(), load_file(Path(path_part).expanduser()), selector)
    registry = discover_strategies(strategies_dir)
    if name_or_file in registry:
        return registry[name_or_file]
    hint = difflib.get_close_matches(name_or_file, list(registry), n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(sorted(registry))}"
    raise StrategyError(f"unknown strategy '{name_or_file}'{suggestion}")


def load_file(path: str | Path) -> list[type[Strategy]]:
    """Import one user file and return the strategies it defines (checked: name and Params).

    A file is imported again only when its size or modification time changed, so repeated lookups
    (a bot cycle, a sweep's trials) return the same class objects and edits are still picked up.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise StrategyError(f"strategy file {path} does not exist")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    cached = _LOADED.get(key)
    if cached is not None:
        return list(cached)
    module = _import_file(path)
    found = _strategies_in(module)
    for cls in found:
        _check_class(cls, path)
    _LOADED[key] = tuple(found)
    return found


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    module_name = f"{_USER_PACKAGE}_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"cannot import strategy file {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: pydantic and dataclasses resolve annotations through sys.modules.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(module_name, None)
        raise StrategyError(f"strategy file {path} line {error.lineno}: syntax error: {error.msg}") from error
    except Exception as error:
        sys.modules.pop(module_name, None)
        from torchtrader.strategies.fence import blame  # torch: only on this error path

        file, line = blame(error.__traceback__, str(path))
        raise StrategyError(
            f"strategy file {path} failed to import ({file} line {line}): {describe_exception(error)}"
        ) from error
    logger.info("loaded strategy file %s", path)
    return module


def _strategies_in(module: ModuleType) -> list[type[Strategy]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Strategy) and obj.__module__ == module.__name__ and not inspect.isabstract(obj)
    ]


def _check_class(cls: type[Strategy], path: Path) -> None:
    line = _line_of(cls)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise StrategyError(
            f"strategy class {cls.__name__} in {path} line {line} needs a class attribute "
            f'name = "snake_case_name" (a Python identifier)'
        )
    params = getattr(cls, "Params", None)
    if not (inspect.isclass(params) and issubclass(params, StrategyParams)):
        raise StrategyError(
            f"strategy '{name}' in {path} line {line} needs a nested class Params(StrategyParams)"
        )
    try:
        defaults = params()
    except Exception as error:
        raise StrategyError(
            f"strategy '{name}' in {path} line {line}: every parameter needs a valid default "
            f"({describe_exception(error)})"
        ) from error
    for field, value in defaults.model_dump().items():
        # ParamBatch stacks parameters into tensors: only numbers and booleans can be batched.
        if not isinstance(value, int | float | bool):
            raise StrategyError(
                f"strategy '{name}' in {path} line {line}: parameter '{field}' is "
                f"{type(value).__name__}; parameters must be int, float or bool"
            )


def _pick(path: Path, found: list[type[Strategy]], selector: str) -> type[Strategy]:
    if selector:
        for cls in found:
            if selector in (cls.name, cls.__name__):
                return cls
        names = ", ".join(cls.name for cls in found) or "none"
        raise StrategyError(f"{path} defines no strategy '{selector}' (it defines: {names})")
    if not found:
        raise StrategyError(f"{path} defines no Strategy subclass with a name")
    if len(found) > 1:
        names = ", ".join(cls.name for cls in found)
        raise StrategyError(f"{path} defines several strategies ({names}): pick one with {path}:NAME")
    return found[0]


def _file_of(cls: type[Strategy]) -> str:
    try:
        return inspect.getfile(cls)
    except (TypeError, OSError):
        return "<unknown>"


def _line_of(cls: type[Strategy]) -> int:
    try:
        return inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return 0
