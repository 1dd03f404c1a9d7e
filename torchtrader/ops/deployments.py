"""Check a ``prefect.yaml`` without Prefect: entrypoints, parameters, work pools, schedules, limits.

``prefect deploy`` finds most of these mistakes only one deployment at a time, against a running
server, after earlier deployments were already registered. This reads the YAML and the flow files
themselves (``ast``, nothing is imported or run), so a malformed entry is one line naming it before
anything is deployed. ``torchtrader`` never imports Prefect; the flow decorator is recognised by name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchtrader.errors import ConfigError


class DeploymentConfigError(ConfigError):
    """A prefect.yaml entry that cannot deploy (missing flow, unknown pool, bad cron, ...)."""


@dataclass(frozen=True)
class DeploymentEntry:
    """One checked deployment: what ``prefect deploy`` will register."""

    name: str
    entrypoint: str
    work_pool: str
    parameters: tuple[str, ...]
    crons: tuple[str, ...]
    concurrency_limit: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "entrypoint": self.entrypoint,
            "work_pool": self.work_pool,
            "parameters": list(self.parameters),
            "crons": list(self.crons),
            "concurrency_limit": self.concurrency_limit,
        }


@dataclass(frozen=True)
class PrefectFileReport:
    path: str
    work_pools: dict[str, str]  # name -> type ("" when the file does not say)
    deployments: tuple[DeploymentEntry, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "work_pools": dict(self.work_pools),
            "deployments": [d.to_json() for d in self.deployments],
        }


# Fields of a cron line: (name, low, high, names accepted in place of numbers).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_TERM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")
_ENTRYPOINT = re.compile(r"^(?P<file>[\w./-]+\.py):(?P<func>[A-Za-z_]\w*)$")


def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not a valid 5-field cron line (names, ranges, lists, steps), or None."""
    text = cron.strip().lower()
    if text in _CRON_MACROS:
        return None
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"{len(fields)} fields, a cron line has 5 (minute hour day month weekday)"
    for value, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for term in value.split(","):
            problem = _term_problem(term, low, high, names)
            if problem:
                return f"{name} field {value!r}: {problem}"
    return None


def _term_problem(term: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _TERM.match(term)
    if not match:
        return f"cannot read {term!r}"
    if match["step"] is not None and int(match["step"]) == 0:
        return "a step of 0"
    if match["range"] == "*":
        return None
    bounds = []
    for part in match["range"].split("-"):
        number = names.index(part) + (1 if names is _MONTHS else 0) if part in names else None
        if number is None:
            if not part.isdigit():
                return f"{part!r} is not a number{' or a name' if names else ''}"
            number = int(part)
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"range {term!r} runs backwards"
    return None


def check_prefect_yaml(path: str | Path, *, root: str | Path | None = None) -> PrefectFileReport:
    """Check every deployment of a prefect.yaml; raise DeploymentConfigError naming the first bad one.

    ``root`` is where entrypoints are relative to (``prefect deploy`` runs from the repo root); the
    default is the folder above ``deployments/`` when the file lives there, else the file's folder.
    """
    import yaml  # type: ignore[import-untyped]

    file = Path(path)
    if not file.is_file():
        raise DeploymentConfigError(f"{file}: no such file")
    base = Path(root) if root is not None else _default_root(file)
    try:
        document = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise DeploymentConfigError(f"{file}{line}: not valid YAML: fix the syntax") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("deployments"), list):
        raise DeploymentConfigError(f"{file}: no 'deployments:' list")
    pools = _work_pools(file, document)
    seen: set[str] = set()
    entries = []
    flows_cache: dict[Path, dict[str, tuple[str, ...] | None]] = {}
    for index, raw in enumerate(document["deployments"]):
        entry = _check_entry(file, base, index, raw, pools, flows_cache)
        if entry.name in seen:
            raise DeploymentConfigError(f"{file}: deployment {entry.name!r} is declared twice")
        seen.add(entry.name)
        entries.append(entry)
    return PrefectFileReport(str(file), pools, tuple(entries))


def _default_root(file: Path) -> Path:
    folder = file.resolve().parent
    return folder.parent if folder.name == "deployments" else folder


def _work_pools(file: Path, document: Mapping[str, Any]) -> dict[str, str]:
    definitions = document.get("definitions") or {}
    declared = definitions.get("work_pools") or {} if isinstance(definitions, Mapping) else {}
    pools: dict[str, str] = {}
    for key, pool in declared.items() if isinstance(declared, Mapping) else ():
        if not isinstance(pool, Mapping) or not isinstance(pool.get("name"), str):
            raise DeploymentConfigError(f"{file}: work pool definition {key!r} has no name")
        pools[pool["name"]] = str(pool.get("type", ""))
    return pools


def _check_entry(
    file: Path,
    base: Path,
    index: int,
    raw: Any,
    pools: Mapping[str, str],
    flows_cache: dict[Path, dict[str, tuple[str, ...] | None]],
) -> DeploymentEntry:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise DeploymentConfigError(f"{file}: deployment #{index + 1} has no name")
    name: str = raw["name"]

    def bad(problem: str) -> DeploymentConfigError:
        return DeploymentConfigError(f"{file}: deployment {name!r}: {problem}")

    entrypoint = raw.get("entrypoint")
    match = _ENTRYPOINT.match(entrypoint) if isinstance(entrypoint, str) else None
    if match is None:
        raise bad(f"entrypoint {entrypoint!r} is not 'path/to/file.py:flow_function'")
    flow_file = base / match["file"]
    if not flow_file.is_file():
        raise bad(f"entrypoint file {match['file']} does not exist under {base}")
    if flow_file not in flows_cache:
        flows_cache[flow_file] = _flow_functions(flow_file)
    functions = flows_cache[flow_file]
    if match["func"] not in functions:
        raise bad(f"{match['file']} defines no @flow function {match['func']!r}")
    accepted = functions[match["func"]]
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise bad("parameters must be a mapping of flow argument names to values")
    if accepted is not None:
        unknown = sorted(set(parameters) - set(accepted))
        if unknown:
            raise bad(f"{match['func']} takes no parameter {unknown[0]!r} (it takes {', '.join(accepted)})")
    pool = raw.get("work_pool")
    pool_name = pool.get("name") if isinstance(pool, Mapping) else None
    if not isinstance(pool_name, str):
        raise bad("no work_pool name: give one of the pools under definitions.work_pools")
    if pool_name not in pools:
        known = ", ".join(sorted(pools)) or "none"
        raise bad(f"work pool {pool_name!r} is not defined under definitions.work_pools (defined: {known})")
    crons = _crons(raw.get("schedules") or [], bad)
    limit = raw.get("concurrency_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise bad(f"concurrency_limit {limit!r} must be a whole number >= 1")
    return DeploymentEntry(name, match.string, pool_name, tuple(parameters), crons, limit)


def _crons(schedules: Any, bad: Any) -> tuple[str, ...]:
    if not isinstance(schedules, Sequence) or isinstance(schedules, str):
        raise bad("schedules must be a list")
    crons = []
    for schedule in schedules:
        if not isinstance(schedule, Mapping):
            raise bad(f"schedule {schedule!r} is not a mapping")
        kinds = [k for k in ("cron", "interval", "rrule") if k in schedule]
        if len(kinds) != 1:
            raise bad(f"schedule {dict(schedule)} needs exactly one of cron, interval or rrule")
        if "cron" in schedule:
            cron = str(schedule["cron"])
            problem = cron_problem(cron)
            if problem:
                raise bad(f"cron {cron!r} is not valid: {problem}")
            crons.append(cron)
        elif "interval" in schedule:
            interval = schedule["interval"]
            if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
                raise bad(f"interval {interval!r} must be a positive number of seconds")
    return tuple(crons)


def _flow_functions(path: Path) -> dict[str, tuple[str, ...] | None]:
    """Top-level ``@flow``/``@flow(...)`` functions: name -> argument names (None = takes **kwargs)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: dict[str, tuple[str, ...] | None] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not any(_is_flow_decorator(d) for d in node.decorator_list):
            continue
        args = node.args
        names = tuple(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        found[node.name] = None if args.kwarg is not None else names
    return found


def _is_flow_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "flow"
    return isinstance(target, ast.Attribute) and target.attr == "flow"
