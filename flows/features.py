"""Features flow: compute a feature set for every bars series on Dask, upsert the ``features`` table.

The ``bars`` version is pinned once at the start, every feature row carries it (``bars_version``),
so a feature can always be traced back to the exact bars that produced it. Dask runs on a
LocalCluster by default, or on the scheduler at ``dask_address`` (``TORCHTRADER_DASK_ADDRESS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.features import compute_features_on_dask, list_series, write_features
from torchtrader.config import load_settings
from torchtrader.errors import LakeError
from torchtrader.indicators.catalogue import FeatureSet, load_feature_set
from torchtrader.indicators.fanout import DEFAULT_FEATURES


class FeaturesRequest(BaseModel):
    """What to compute. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature_set: FeatureSet | None = Field(default=None, description="None = the default feature set")
    feature_file: str | None = Field(default=None, description="TOML feature set (instead of feature_set)")
    symbols: list[str] | None = Field(default=None, description="None = every symbol in bars")
    timeframes: list[str] | None = Field(default=None, description="None = every timeframe in bars")
    lake: str | None = Field(default=None, description="lake URI; default from settings")
    dask_address: str | None = Field(default=None, description="Dask scheduler; default from settings")


@flow(name="features", log_prints=True)
def features_flow(request: FeaturesRequest | None = None) -> dict[str, Any]:
    request = request or FeaturesRequest()
    logger = get_run_logger()
    settings = load_settings(lake=request.lake)
    lake, storage = settings.lake, settings.storage_options
    address = request.dask_address or settings.dask_address
    if request.feature_file:
        feature_set = load_feature_set(Path(request.feature_file))
    else:
        feature_set = request.feature_set or DEFAULT_FEATURES
    version, series = list_series(lake, storage, request.symbols, request.timeframes)
    if version is None or not series:
        raise LakeError(f"no bars series to compute features for in {lake} (symbols={request.symbols})")
    frame = compute_features_on_dask(
        lake, storage, series, feature_set, version, address, settings.dask_workers
    )
    written = write_features(lake, storage, frame)
    summary = {
        "series": len(series),
        "rows": frame.height,
        "columns": feature_set.columns,
        "bars_version": version,
        **written,
    }
    logger.info("features: %s", summary)
    create_markdown_artifact(
        key="features",
        markdown=(
            f"Computed {len(feature_set.columns)} feature columns for {len(series)} series "
            f"({frame.height} rows) from bars version {version}; features table version "
            f"{written['features_version']}."
        ),
    )
    return summary


if __name__ == "__main__":
    features_flow()
