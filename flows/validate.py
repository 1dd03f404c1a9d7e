"""Validate flow: re-check every stored series of the lake (one pinned bars version) against the bars
rules and publish a data-quality table. Ingest already validates what it writes; this stage checks the
lake as the later stages will read it (and catches anything written around the ingest path)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.quality import validate_series_task
from torchtrader.config import load_settings
from torchtrader.errors import TorchTraderError
from torchtrader.lake import Lake


class ValidateRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: list[str] | None = Field(default=None, description="None = every series in the lake")
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    artifact_key: str = Field(default="lake-quality", pattern=r"^[a-z0-9-]*$")


@flow(name="validate", log_prints=True)
def validate_flow(request: ValidateRequest | None = None) -> list[dict[str, Any]]:
    request = request or ValidateRequest()
    settings = load_settings(lake=request.lake)
    lake = Lake(settings.lake, settings.storage_options or None)
    version = lake.version("bars")
    if version is None:
        raise TorchTraderError(f"the lake at {settings.lake} holds no bars yet: ingest some first")
    series = [s for s in lake.series(version=version) if not request.symbols or s.symbol in request.symbols]
    futures = [
        validate_series_task.submit(
            settings.lake, settings.storage_options, s.source, s.symbol, s.timeframe, version
        )
        for s in series
    ]
    rows = [future.result() for future in futures]
    create_table_artifact(
        key=request.artifact_key,
        table=rows or [{"source": "-", "symbol": "-", "rows": 0}],
        description=f"data quality of {len(rows)} series (bars v{version})",
    )
    bad = [r for r in rows if r["failing_rows"]]
    for row in bad:
        print(f"{row['source']} {row['symbol']} {row['timeframe']}: {row['failing_rows']} failing rows")
    return rows


if __name__ == "__main__":
    validate_flow()
