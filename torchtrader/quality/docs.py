"""Great Expectations Data Docs for the bars suite (a static HTML site)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from torchtrader.errors import DataError
from torchtrader.quality.gx_run import gx_frame, register_bars_suite, run_definition
from torchtrader.quality.rules import import_gx
from torchtrader.quality.validate import failing_rows, prepare

log = logging.getLogger(__name__)


def run_name(name: str) -> str:
    """A GX run name (a folder of the site) for a series label: "ccxt:BTC/USDT:1h" -> "ccxt_BTC-USDT_1h"."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("/", "-"))


def build_data_docs(
    frames: Iterable[tuple[str, pl.DataFrame]], output_dir: Path, *, max_rows: int | None = None
) -> Path:
    """Validate each named bars frame with the GX suite in a file context under ``output_dir`` and build
    the Data Docs site; returns its ``index.html``.

    Names label the runs (made file-safe by ``run_name``). Every row is checked unless ``max_rows`` asks
    for the same deterministic sample as ``validate_bars``. Re-running into the same folder adds the new
    runs to the existing site.
    """
    named = list(frames)
    if not named:
        raise DataError("no bars frames to document: ingest some data first")
    import_gx()
    import great_expectations as gx

    output_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(output_dir))
    context.enable_analytics(False)
    definition = register_bars_suite(context)
    for name, frame in named:
        prepared = prepare(frame)
        frame_for_gx = gx_frame(prepared, failing_rows(prepared), max_rows)
        result = run_definition(definition, frame_for_gx, run_name=run_name(name))
        log.info("data docs: %s validated, success=%s", name, result.success)
    sites = context.build_data_docs()
    index = Path(str(output_dir)) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    if not index.is_file():
        raise DataError(f"GX did not write Data Docs where expected ({index}); sites: {sites}")
    return index
