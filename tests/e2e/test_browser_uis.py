"""The UIs in a real browser (Debian's chromium, headless, driven by playwright — no downloaded
browser): the Prefect UI lists the flow runs the e2e test made and shows a run's artifacts; the MLflow
UI shows the tune's experiment with its parent run and nested trial runs. Screenshots are kept in the
test's temporary folder (printed on failure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, artifacts_of, table_of

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is missing: run `make install` (apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.screenshots = tmp_path_factory.mktemp("screenshots")  # type: ignore[attr-defined]
        try:
            yield tab
        finally:
            browser.close()


def _shot(page: Any, name: str) -> Path:
    path = Path(page.screenshots) / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _needs_runs(stack: Stack, finished: dict[str, Any]) -> dict[str, Any]:
    if "tune-experiment" not in stack.flow_runs:
        _remember_tune(stack, finished)
    return stack.flow_runs


def _remember_tune(stack: Stack, finished: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    (tuned,) = table_of(artifacts_of(stack, finished["tune-weekly"].id)["tune-best"])
    experiment_id = MlflowClient(tracking_uri=stack.mlflow_url).get_run(tuned["run_id"]).info.experiment_id
    name = MlflowClient(tracking_uri=stack.mlflow_url).get_experiment(experiment_id).name
    stack.flow_runs["tune-run-id"], stack.flow_runs["tune-experiment"] = (
        tuned["run_id"],
        (experiment_id, name),
    )


def test_the_prefect_ui_lists_the_flow_runs_and_shows_their_artifacts(
    stack: Stack, finished: dict[str, Any], page: Any
) -> None:
    runs = _needs_runs(stack, finished)
    ui = stack.prefect_api.removesuffix("/api")
    page.goto(f"{ui}/runs")
    for name in ("ingest-sample-daily", "backtests-daily", "bot-paper-btc"):
        page.get_by_text(runs[name].name).first.wait_for()
    _shot(page, "prefect-runs")
    backtest = runs["backtests-daily"]
    page.goto(f"{ui}/runs/flow-run/{backtest.id}")
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("backtest-ranking").first.wait_for()
    assert page.get_by_text("Completed").first.is_visible()
    assert _shot(page, "prefect-backtest-artifacts").stat().st_size > 10_000


def test_the_mlflow_ui_shows_the_experiment_and_its_nested_runs(
    stack: Stack, finished: dict[str, Any], page: Any
) -> None:
    runs = _needs_runs(stack, finished)
    from mlflow.tracking import MlflowClient

    experiment_id, experiment_name = runs["tune-experiment"]
    client = MlflowClient(tracking_uri=stack.mlflow_url)
    parent = client.get_run(runs["tune-run-id"])
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    # the experiment's runs table (its default page is an overview); nested runs fold under the parent
    page.goto(f"{stack.mlflow_url}/#/experiments/{experiment_id}/runs")
    page.get_by_text(experiment_name).first.wait_for()
    page.get_by_text(parent.info.run_name).first.wait_for()
    page.get_by_text(f"{1 + len(children)} matching runs").first.wait_for()
    _shot(page, "mlflow-experiment")
    # a trial run's page names its parent
    page.goto(f"{stack.mlflow_url}/#/experiments/{experiment_id}/runs/{children[0].info.run_id}")
    page.get_by_text(children[0].info.run_name).first.wait_for()
    page.get_by_text(parent.info.run_name).first.wait_for()
    assert _shot(page, "mlflow-nested-run").stat().st_size > 10_000
