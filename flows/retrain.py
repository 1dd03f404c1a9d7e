"""Retrain flow: walk-forward retraining of a registered model on a schedule (weekly deployment).

Train on the latest window of bars, evaluate out of sample (the test split is the newest bars the
model never saw), register the result as ``challenger``, promote it to ``champion`` only when its
out-of-sample selection metric beats the champion's, and alert on a promotion.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from tasks.models import alert_task, promote_task, train_task
from torchtrader.config import Settings, load_settings
from torchtrader.indicators.catalogue import FeatureSet
from torchtrader.models.training import TrainConfig


class RetrainRequest(BaseModel):
    """What to retrain. Prefect shows and validates these as the flow's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="registered model name (challenger/champion aliases)")
    symbol: str = "SPX"
    timeframe: str = "1d"
    source: str | None = None
    config: TrainConfig = Field(default_factory=TrainConfig)
    features: FeatureSet | None = None
    last_bars: int | None = Field(default=1500, gt=0, description="train on this many latest bars")
    alert_urls: list[str] = Field(default_factory=list, description="apprise URLs told of a promotion")


@flow(name="retrain", log_prints=False)
def retrain_flow(request: RetrainRequest, settings: Settings | None = None) -> dict[str, object]:
    settings = settings or load_settings()
    logger = get_run_logger()
    report = train_task(
        settings.lake,
        settings.storage_options,
        request.symbol,
        request.config,
        tracking_uri=settings.mlflow_uri,
        timeframe=request.timeframe,
        source=request.source,
        features=request.features,
        register_as=request.name,
        last_bars=request.last_bars,
    )
    promotion = promote_task(settings.mlflow_uri, request.name)
    logger.info("retrain %s: %s", request.name, promotion.reason)
    alerted = False
    if promotion.promoted and request.alert_urls:
        alerted = alert_task(
            request.alert_urls,
            f"{request.name} v{promotion.challenger} promoted to champion",
            f"{request.symbol} {request.timeframe}: {promotion.reason} (run {report.run_id})",
        )
    create_markdown_artifact(
        key="retrain-" + "".join(c if c.isalnum() else "-" for c in request.name.lower()),
        markdown=f"# Retrain {request.name}\n\n* promoted: {promotion.promoted}\n* {promotion.reason}\n",
    )
    return {"train": report.to_json(), "promotion": promotion.to_json(), "alerted": alerted}


if __name__ == "__main__":
    retrain_flow.serve(name="retrain-weekly", cron="0 3 * * 6")
