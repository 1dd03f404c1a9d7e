"""Model tasks: each one library call (torchtrader.models, torchtrader.alerts) plus names and caching.

Tasks take the lake URI and the tracking URI, never frames or models.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from torchtrader.alerts import send_alert
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.lake import Lake
from torchtrader.models.pipeline import TrainReport, train_model
from torchtrader.models.registry import Promotion, promote_on_merit
from torchtrader.models.training import TrainConfig


@task(name="train-model", task_run_name="train-{config.model}-{symbol}", cache_policy=NO_CACHE)
def train_task(
    lake_uri: str,
    storage_options: dict[str, str],
    symbol: str,
    config: TrainConfig,
    *,
    tracking_uri: str,
    timeframe: str,
    source: str | None,
    features: FeatureSet | None,
    register_as: str,
    last_bars: int | None,
) -> TrainReport:
    return train_model(
        Lake(lake_uri, storage_options),
        symbol,
        config,
        tracking_uri=tracking_uri,
        timeframe=timeframe,
        source=source,
        features=features,
        register_as=register_as,
        last_bars=last_bars,
    )


@task(name="promote-on-merit", task_run_name="promote-{name}", cache_policy=NO_CACHE)
def promote_task(tracking_uri: str, name: str) -> Promotion:
    return promote_on_merit(tracking_uri, name)


@task(name="alert-promotion", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def alert_task(urls: Sequence[str], title: str, body: str) -> bool:
    return send_alert(urls, title=title, body=body, kind="success")
