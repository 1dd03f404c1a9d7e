"""Great Expectations side of validation: one lazily built ephemeral context per process.

GX contexts are not thread-safe and cost seconds to import and build, so one context, one suite and one
validation definition are created on first use and every run holds a lock (Dask runs tasks in threads).
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import polars as pl

from torchtrader.lake.schema import BARS_SCHEMA
from torchtrader.quality.report import ExpectationOutcome
from torchtrader.quality.rules import (
    CONFLICT_COLUMN,
    OFFSET_COLUMN,
    ROW_COLUMN,
    RULES_BY_NAME,
    STEP_COLUMN,
    SUITE_NAME,
    bars_expectation_suite,
    import_gx,
)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.validation_definition import ValidationDefinition
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext

    from torchtrader.quality.validate import Prepared

log = logging.getLogger(__name__)

GX_SAMPLE_ROWS = 20_000  # GX's fixed cost (~0.15 s) dominates below this, so checking fewer saves nothing
GX_FLAGGED_ROWS = 10_000  # failing rows shown to GX; the rest of the sample is an even stride
GX_COLUMNS = (ROW_COLUMN, *BARS_SCHEMA, STEP_COLUMN, OFFSET_COLUMN)
# COMPLETE lists every unexpected row by our "row" column, so GX's verdict is comparable row by row.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_COLUMN],
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}
_LOCK = threading.Lock()


def register_bars_suite(context: AbstractDataContext) -> ValidationDefinition:
    """Add the pandas data source, the bars suite and its validation definition to a GX context."""
    import_gx()
    from great_expectations.core.validation_definition import ValidationDefinition
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_pandas(name="torchtrader")
    asset = source.add_dataframe_asset(name="bars") if "bars" not in source.get_asset_names() else None
    asset = asset or source.get_asset("bars")
    batch = asset.add_batch_definition_whole_dataframe("whole") if not asset.batch_definitions else None
    batch = batch or asset.batch_definitions[0]
    suite = context.suites.add_or_update(bars_expectation_suite())
    return context.validation_definitions.add_or_update(
        ValidationDefinition(name=SUITE_NAME, data=batch, suite=suite)
    )


@cache
def _ephemeral() -> tuple[AbstractDataContext, ValidationDefinition]:
    import_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    return context, register_bars_suite(context)


def gx_frame(prepared: Prepared, failing: pl.Series, max_rows: int | None) -> pl.DataFrame:
    """The rows GX checks, in sorted-view order: all of them, or flagged rows plus an even stride.

    Only the chosen rows are gathered, so the cost is one scan of ``failing`` plus O(max_rows).
    """
    height = prepared.view_height
    if max_rows is None or height <= max_rows:
        return prepared.view().select(*GX_COLUMNS, CONFLICT_COLUMN)
    flagged = failing if prepared.order is None else failing.gather(prepared.order)
    shown = flagged.arg_true().head(GX_FLAGGED_ROWS)
    stride = -(-height // max(max_rows - shown.len(), 1))
    spread = pl.int_range(0, height, stride, dtype=pl.UInt32, eager=True).cast(shown.dtype)
    positions = pl.concat([shown, spread]).unique().sort()
    return prepared.view_at(positions).select(*GX_COLUMNS, CONFLICT_COLUMN)


def outcomes(result: ExpectationSuiteValidationResult, frame: pl.DataFrame) -> list[ExpectationOutcome]:
    """Typed outcomes, each compared with the rows the polars rule flags on the same frame."""
    found = []
    for item in result.results:
        config = item.expectation_config
        if config is None:  # GX always attaches the configuration of a suite expectation
            continue
        name = str(config.meta["rule"])
        details = item.result or {}
        if item.exception_info.get("raised_exception"):
            log.warning("GX expectation %s raised: %s", name, item.exception_info.get("exception_message"))
        rows = tuple(sorted(int(entry[ROW_COLUMN]) for entry in details.get("unexpected_index_list") or ()))
        fast = frame.filter(RULES_BY_NAME[name].failing())[ROW_COLUMN].sort().to_list()
        agrees = bool(item.success is not None) and list(rows) == fast
        if not agrees:
            log.warning("GX and the fast path disagree on %s: GX rows %s, polars rows %s", name, rows, fast)
        found.append(
            ExpectationOutcome(
                name=name,
                expectation_type=str(config.type),
                success=bool(item.success),
                unexpected_count=int(details.get("unexpected_count") or 0),
                element_count=int(details.get("element_count") or frame.height),
                unexpected_rows=rows,
                agrees=agrees,
            )
        )
    order = list(RULES_BY_NAME)
    return sorted(found, key=lambda outcome: order.index(outcome.name))


def run_definition(
    definition: ValidationDefinition, frame: pl.DataFrame, run_name: str | None = None
) -> ExpectationSuiteValidationResult:
    import_gx()
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=run_name) if run_name else None
    return definition.run(
        batch_parameters={"dataframe": frame.select(GX_COLUMNS).to_pandas()},
        result_format=RESULT_FORMAT,
        run_id=run_id,
    )


def run_suite(prepared: Prepared, failing: pl.Series) -> list[ExpectationOutcome]:
    """Run the bars suite on the deterministic sample of one validated frame (see validate.py)."""
    frame = gx_frame(prepared, failing, GX_SAMPLE_ROWS)
    with _LOCK:
        context, definition = _ephemeral()
        result = run_definition(definition, frame)
        # The in-memory results store would otherwise grow by one result per batch for the process' life.
        store = context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)  # type: ignore[no-untyped-call]
    return outcomes(result, frame)
