"""run_link: an http(s) tracking server's run page, else the command that shows the run."""

from __future__ import annotations

import pytest

from torchtrader.tracking import run_link


@pytest.mark.parametrize(
    ("uri", "run_id", "experiment_id", "link"),
    [
        ("http://mlflow:5000/", "abc", "3", "http://mlflow:5000/#/experiments/3/runs/abc"),
        ("https://ml.example.org", "r1", "0", "https://ml.example.org/#/experiments/0/runs/r1"),
        ("sqlite:////x/mlflow.db", "r2", None, "torchtrader runs show r2"),
        (None, "r3", None, "torchtrader runs show r3"),
        ("http://mlflow:5000", None, None, ""),
        ("sqlite:////x/mlflow.db", "", None, ""),
    ],
)
def test_a_run_link_points_where_the_run_can_be_seen(
    uri: str | None, run_id: str | None, experiment_id: str | None, link: str
) -> None:
    assert run_link(uri, run_id, experiment_id) == link
