"""End to end with real parts: a Prefect server, a process worker and an MLflow server (started the
way `make up` starts them), the deployments registered from deployments/prefect.yaml with `prefect
deploy`, then the ingest, backtest, tune and bot deployments triggered through the API and run by the
worker as subprocesses; their artifacts are read back through the Prefect API and the tune's runs
(parent and nested trials) through the MLflow server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import INGEST, RUNS, Stack, artifacts_of, prefect_client, table_of

pytestmark = pytest.mark.slow


def test_deployments_run_on_the_worker_and_publish_their_artifacts(
    stack: Stack, finished: dict[str, Any]
) -> None:
    with prefect_client(stack) as client:
        pool = client.read_work_pool("local-process")
        assert pool.type == "process"
        for name in (INGEST[0], *(d for d, _ in RUNS.values())):
            deployment = client.read_deployment_by_name(name)
            assert deployment.work_pool_name == "local-process"
            assert deployment.schedules, name  # the cron from prefect.yaml came through
        bot = client.read_deployment_by_name("bot-cycle/bot-paper-btc")
        assert bot.global_concurrency_limit is not None and bot.global_concurrency_limit.limit == 1
    runs = finished
    for name, run in runs.items():
        assert run.state.is_completed(), f"{name}: {run.state.name}: {run.state.message}"

    ingested = artifacts_of(stack, runs["ingest-sample-daily"].id)
    (summary,) = [a for key, a in ingested.items() if a.type == "table" and "quality" not in key]
    (row,) = table_of(summary)
    assert row["symbol"] == "SPX" and row["rows_added"] == 5031 and not row["error"]

    ranking = table_of(artifacts_of(stack, runs["backtests-daily"].id)["backtest-ranking"])
    assert {r["strategy"] for r in ranking} == {"sma_cross", "ema_cross"}
    assert all(r["symbol"] == "SPX" and not r["error"] for r in ranking)

    bot = artifacts_of(stack, runs["bot-paper-btc"].id)
    assert {"bot-paper-btc-positions", "bot-paper-btc-pnl"} <= set(bot)
    assert "# Bot paper-btc — running" in str(bot["bot-paper-btc-pnl"].data)

    (tuned,) = table_of(artifacts_of(stack, runs["tune-weekly"].id)["tune-best"])
    stack.flow_runs["tune-run-id"] = tuned["run_id"]
    assert tuned["run_id"] and set(tuned["best_params"]) == {"fast", "slow"}


def test_the_mlflow_server_lists_the_tunes_parent_and_trial_runs(
    stack: Stack, finished: dict[str, Any]
) -> None:
    from mlflow.tracking import MlflowClient

    parent_id = stack.flow_runs.get("tune-run-id")
    assert parent_id is not None, "the deployment test did not get as far as the tune (see its failure)"
    client = MlflowClient(tracking_uri=stack.mlflow_url)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert children and all(c.info.status == "FINISHED" for c in children)
    experiment = client.get_experiment(parent.info.experiment_id)
    stack.flow_runs["tune-experiment"] = (experiment.experiment_id, experiment.name)
