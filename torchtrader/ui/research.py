"""Research and data documents: lake backtests, MLflow runs and models, lake tables and series.

Each reader imports its heavy library (polars, MLflow, torch) on use, and a source that is not
there yet (no MLflow DB, no runs table) is reported as a note instead of failing the page.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from torchtrader.errors import TorchTraderError
from torchtrader.ui.auth import UiError
from torchtrader.ui.views import Figure, layout, require_bot

if TYPE_CHECKING:
    from torchtrader.ui.deps import UiContext

logger = logging.getLogger(__name__)
MLFLOW_RUNS = 50


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _mlflow_missing(uri: str) -> str | None:
    """Why the tracking store cannot be read without creating it (a SQLite file that is not there)."""
    try:
        url = make_url(uri)
    except ArgumentError:
        return None
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        return f"no MLflow DB at {url.database} yet: run a backtest, sweep or tune with tracking on"
    return None


def mlflow_link(ctx: UiContext, experiment_id: str, run_id: str | None = None) -> str | None:
    base = ctx.ui.mlflow_ui_url
    if not base:
        return None
    path = f"#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{base.rstrip('/')}/{path}"


def lake_runs(ctx: UiContext, limit: int) -> list[dict[str, Any]]:
    from torchtrader.backtest.store import list_runs

    frame = list_runs(ctx.lake())
    if frame.is_empty():
        return []
    keep = [c for c in frame.columns if c != "config"]
    return [
        {k: _plain(v) for k, v in row.items()} for row in frame.head(limit).select(keep).iter_rows(named=True)
    ]


def mlflow_runs(ctx: UiContext, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    uri = ctx.ui.core.mlflow_uri
    missing = _mlflow_missing(uri)
    if missing:
        return [], missing
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        found = client.search_runs(
            list(experiments), max_results=limit, order_by=["attributes.start_time DESC"]
        )
    except Exception as error:  # MLflow raises many kinds (connection, schema): the page shows it
        return [], f"MLflow at {uri} could not be read: {_one_line(error)}"
    rows = []
    for run in found:
        tags, metrics = run.data.tags, run.data.metrics
        rows.append(
            {
                "run_id": run.info.run_id,
                "experiment": experiments.get(run.info.experiment_id),
                "name": run.info.run_name,
                "status": run.info.status,
                "kind": tags.get("kind"),
                "strategy": tags.get("strategy"),
                "symbol": tags.get("symbol"),
                "lake_version": tags.get("lake_version"),
                "best_objective": metrics.get("best_objective"),
                "start_time": run.info.start_time,
                "parent": tags.get("mlflow.parentRunId"),
                "link": mlflow_link(ctx, run.info.experiment_id, run.info.run_id),
            }
        )
    return rows, None


def runs(ctx: UiContext, *, limit: int) -> dict[str, Any]:
    notes = []
    try:
        backtests = lake_runs(ctx, limit)
    except TorchTraderError as error:
        backtests = []
        notes.append(f"lake runs could not be read: {_one_line(error)}")
    tracked, note = mlflow_runs(ctx, limit)
    if note:
        notes.append(note)
    return {"backtests": backtests, "mlflow": tracked, "notes": notes}


def lake_run(ctx: UiContext, run_id: str) -> dict[str, Any]:
    from torchtrader.backtest.store import load_result

    try:
        result = load_result(ctx.lake(), run_id)
    except TorchTraderError as error:
        raise UiError(404, f"backtest run {run_id!r}: {_one_line(error)}") from None
    document: dict[str, Any] = result.to_json(include_equity=True)
    document["run_id"] = run_id
    return document


def run_figure(document: dict[str, Any]) -> Figure:
    curve = document.get("equity") or []
    if isinstance(curve, dict):  # column-oriented
        x, y = curve.get("ts", []), curve.get("equity", [])
    else:
        x = [p.get("ts") for p in curve]
        y = [p.get("equity") for p in curve]
    return Figure([{"type": "scatter", "mode": "lines", "name": "equity", "x": x, "y": y}], layout("Equity"))


def models(ctx: UiContext) -> dict[str, Any]:
    uri = ctx.ui.core.mlflow_uri
    missing = _mlflow_missing(uri)
    if missing:
        return {"models": [], "notes": [missing]}
    try:
        from torchtrader.models.registry import list_models

        return {"models": json.loads(json.dumps(list_models(uri), default=str)), "notes": []}
    except Exception as error:  # the registry is optional for the page: show why it is empty
        return {"models": [], "notes": [f"model registry could not be read: {_one_line(error)}"]}


def series(ctx: UiContext) -> list[dict[str, Any]]:
    """The ``data list --json`` rows."""
    now = datetime.now(UTC)
    try:
        found = ctx.lake().series()
    except TorchTraderError:
        return []
    return [
        {
            "source": s.source,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "rows": s.rows,
            "first": s.first.isoformat(),
            "last": s.last.isoformat(),
            "age_s": round(max(0.0, (now - s.last).total_seconds()), 1),
        }
        for s in found
    ]


# Gap reports read every bar of every series: computed once per bars version of a lake.
_GAPS_CACHE: dict[tuple[str, int | None], list[dict[str, Any]]] = {}


def gaps(ctx: UiContext) -> list[dict[str, Any]]:
    """The ``data gaps --json`` rows: missing bars per series against its timeframe and calendar."""
    from torchtrader.quality.gaps import series_gaps

    lake = ctx.lake()
    try:
        key = (lake.uri, lake.version("bars"))
        if key[1] is None:
            return []
        if key not in _GAPS_CACHE:
            _GAPS_CACHE.clear()
            _GAPS_CACHE[key] = [found.to_json() for found in series_gaps(lake, version=key[1])]
    except TorchTraderError:
        return []
    return _GAPS_CACHE[key]


def lake_summary(ctx: UiContext) -> dict[str, Any]:
    lake = ctx.lake()
    notes: list[str] = []
    tables = []
    try:
        names = lake.tables()
    except TorchTraderError as error:
        return {"uri": lake.uri, "tables": [], "quarantine": [], "ingests": [], "notes": [_one_line(error)]}
    for name in names:
        try:
            history = lake.history(name, limit=1)
            tables.append(
                {
                    "name": name,
                    "version": lake.version(name),
                    "last_commit": _plain(history[0].get("timestamp")) if history else None,
                }
            )
        except TorchTraderError as error:
            notes.append(f"table {name}: {_one_line(error)}")
    quarantine: list[dict[str, Any]] = []
    if "quarantine" in names:
        frame = lake.read_table("quarantine")
        keys = [c for c in ("source", "symbol", "timeframe", "reason") if c in frame.columns]
        if keys and not frame.is_empty():
            grouped = frame.group_by(keys).len(name="rows").sort(keys)
            quarantine = [{k: _plain(v) for k, v in r.items()} for r in grouped.iter_rows(named=True)]
    ingests = []
    if "bars" in names:
        for entry in lake.history("bars", limit=20):
            ingests.append(
                {
                    "version": entry.get("version"),
                    "timestamp": _plain(entry.get("timestamp")),
                    "operation": entry.get("operation"),
                }
            )
    return {"uri": lake.uri, "tables": tables, "quarantine": quarantine, "ingests": ingests, "notes": notes}


def explain(ctx: UiContext, name: str) -> dict[str, Any]:
    from torchtrader.bots.explain import explain_bot

    store = ctx.store()
    require_bot(store, name)
    try:
        document: dict[str, Any] = explain_bot(
            name, store=store, lake=ctx.lake(), strategies_dir=ctx.ui.core.strategies
        ).to_json()
    except TorchTraderError as error:
        raise UiError(409, f"bot {name!r} cannot be explained: {_one_line(error)}") from None
    return document
