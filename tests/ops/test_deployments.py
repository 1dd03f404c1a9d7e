"""deployments/prefect.yaml is checked before anything is deployed: entrypoints are real @flow
functions taking the named parameters, work pools are defined, crons are valid, limits are sane.
A malformed entry is one line naming it (and the CLI-free validator imports no Prefect)."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

from torchtrader.ops.deployments import DeploymentConfigError, check_prefect_yaml, cron_problem

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILES = [ROOT / "deployments" / "prefect.yaml", ROOT / "deployments" / "prefect.cloud.yaml"]


@pytest.mark.parametrize("path", PREFECT_FILES, ids=lambda p: p.name)
def test_every_deployment_in_the_repo_checks_out(path: Path) -> None:
    report = check_prefect_yaml(path)
    names = {d.name for d in report.deployments}
    assert len(names) == len(report.deployments) > 5
    assert all(d.work_pool in report.work_pools for d in report.deployments)
    for deployment in report.deployments:
        # Independent of the validator: the entrypoint function really is decorated with flow(...)
        file, func = deployment.entrypoint.split(":")
        tree = ast.parse((ROOT / file).read_text())
        (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
        assert "flow" in ast.unparse(node.decorator_list[0])
        assert set(deployment.parameters) <= {a.arg for a in node.args.args}


def test_the_local_file_has_every_scheduled_stage_and_one_run_per_bot() -> None:
    report = check_prefect_yaml(PREFECT_FILES[0])
    by_flow: dict[str, list[str]] = {}
    for d in report.deployments:
        by_flow.setdefault(d.entrypoint, []).append(d.name)
        if d.name.startswith("bot-"):
            assert d.concurrency_limit == 1, d.name
    for flow in (
        "flows/ingest.py:ingest_flow",
        "flows/features.py:features_flow",
        "flows/backtest.py:backtest_flow",
        "flows/sweep.py:sweep_flow",
        "flows/walk_forward.py:walk_forward_flow",
        "flows/bot_cycle.py:bot_cycle_flow",
        "flows/watchdog.py:watchdog_flow",
        "flows/validate.py:validate_flow",
        "flows/tune.py:tune_flow",
        "flows/retrain.py:retrain_flow",
        "flows/pipeline.py:pipeline_flow",
    ):
        assert flow in by_flow, flow
    assert report.work_pools == {"local-process": ""}


def test_the_cloud_file_deploys_the_same_flows_to_docker_ecs_and_kubernetes_pools() -> None:
    local = check_prefect_yaml(PREFECT_FILES[0])
    cloud = check_prefect_yaml(PREFECT_FILES[1])
    assert {"docker", "ecs", "kubernetes"} <= set(cloud.work_pools.values())
    # The pools the Terraform folders create are the ones the cloud file names (name and type).
    for cloud_dir in ("aws", "gcp", "azure"):
        hcl = (ROOT / "infra" / "terraform" / cloud_dir / "prefect.tf").read_text()
        pool_type = re.search(
            r'resource "prefect_work_pool" "\w+" \{\s*name\s*=\s*\S+\s*type\s*=\s*"([^"]+)"', hcl
        )
        variables = (ROOT / "infra" / "terraform" / cloud_dir / "variables.tf").read_text()
        pool_name = re.search(r'variable "work_pool_name" \{[^}]*default\s*=\s*"([^"]+)"', variables)
        assert pool_type and pool_name, cloud_dir
        assert cloud.work_pools[pool_name[1]] == pool_type[1], cloud_dir
    assert {d.entrypoint for d in cloud.deployments} <= {d.entrypoint for d in local.deployments}
    assert {d.work_pool for d in cloud.deployments} == set(cloud.work_pools)


def test_prefect_itself_accepts_every_cron_of_both_files() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    for path in PREFECT_FILES:
        for deployment in check_prefect_yaml(path).deployments:
            for cron in deployment.crons:
                CronSchedule(cron=cron, timezone="UTC")


@pytest.mark.parametrize(
    ("cron", "valid"),
    [
        ("0 * * * *", True),
        ("*/15 * * * *", True),
        ("30 22 * * 1-5", True),
        ("0 6 * * sat", True),
        ("0 0 1 jan,jul *", True),
        ("5,35 0-23/2 * * 0", True),
        ("@hourly", True),
        ("0 24 * * *", False),
        ("60 * * * *", False),
        ("* * 0 * *", False),
        ("* * * 13 *", False),
        ("* * * * 8", False),
        ("*/0 * * * *", False),
        ("5-1 * * * *", False),
        ("0 * * *", False),
        ("0 * * * * *", False),
        ("every hour", False),
        ("0 * * * funday", False),
    ],
)
def test_cron_lines_agree_with_prefects_own_parser(cron: str, valid: bool) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    assert (cron_problem(cron) is None) is valid
    # Stricter than croniter on purpose: a seconds field, and ranges that run backwards (croniter
    # reads "5-1" as a wrap-around, classic cron refuses it).
    if cron not in {"0 * * * * *", "5-1 * * * *"}:
        try:
            CronSchedule(cron=cron)
            prefect_valid = True
        except ValueError:
            prefect_valid = False
        assert prefect_valid is valid


GOOD = {
    "name": "ok",
    "entrypoint": "flows/backtest.py:backtest_flow",
    "parameters": {"request": {"symbols": ["SPX"]}},
    "schedules": [{"cron": "0 1 * * *", "timezone": "UTC"}],
    "work_pool": {"name": "local-process"},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"entrypoint": "flows/nope.py:backtest_flow"},
            "deployment 'bad': entrypoint file flows/nope.py does not exist",
        ),
        (
            {"entrypoint": "flows/backtest.py:nope_flow"},
            "flows/backtest.py defines no @flow function 'nope_flow'",
        ),
        ({"entrypoint": "flows/backtest.py:task_runner"}, "defines no @flow function 'task_runner'"),
        ({"entrypoint": "flows/backtest.py"}, "is not 'path/to/file.py:flow_function'"),
        (
            {"parameters": {"symbols": ["SPX"]}},
            "backtest_flow takes no parameter 'symbols' (it takes request)",
        ),
        (
            {"work_pool": {"name": "gpu-pool"}},
            "work pool 'gpu-pool' is not defined under definitions.work_pools",
        ),
        ({"work_pool": None}, "no work_pool name"),
        (
            {"schedules": [{"cron": "0 25 * * *"}]},
            "cron '0 25 * * *' is not valid: hour field '25': 25 is outside 0-23",
        ),
        ({"schedules": [{"cron": "0 1 * *"}]}, "cron '0 1 * *' is not valid: 4 fields"),
        ({"schedules": [{"interval": -5}]}, "interval -5 must be a positive number of seconds"),
        (
            {"schedules": [{"cron": "0 1 * * *", "interval": 60}]},
            "needs exactly one of cron, interval or rrule",
        ),
        ({"concurrency_limit": 0}, "concurrency_limit 0 must be a whole number >= 1"),
    ],
)
def test_a_malformed_entry_is_one_line_naming_it(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    path = _prefect_file(tmp_path, [GOOD, {**GOOD, "name": "bad", **change}])
    with pytest.raises(DeploymentConfigError) as raised:
        check_prefect_yaml(path, root=ROOT)
    message = str(raised.value)
    assert "\n" not in message
    assert "deployment 'bad'" in message
    assert expected in message


def test_file_level_problems_are_one_line_too(tmp_path: Path) -> None:
    cases = {
        "not yaml": "deployments: [\n  - name: x\n  bad: ][",
        "no deployments": "name: x\n",
        "duplicate": yaml.safe_dump({"definitions": _pools(), "deployments": [GOOD, GOOD]}),
    }
    expected = {
        "not yaml": "not valid YAML",
        "no deployments": "no 'deployments:' list",
        "duplicate": "deployment 'ok' is declared twice",
    }
    for case, text in cases.items():
        (tmp_path / "deployments").mkdir(exist_ok=True)
        path = tmp_path / "deployments" / "prefect.yaml"
        path.write_text(text)
        with pytest.raises(DeploymentConfigError, match=expected[case]) as raised:
            check_prefect_yaml(path, root=ROOT)
        assert "\n" not in str(raised.value)
    with pytest.raises(DeploymentConfigError, match="no such file"):
        check_prefect_yaml(tmp_path / "missing.yaml")


def test_entrypoints_resolve_from_the_folder_above_deployments(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    shutil.copy(ROOT / "flows" / "backtest.py", tmp_path / "flows" / "backtest.py")
    (tmp_path / "deployments").mkdir()
    path = tmp_path / "deployments" / "prefect.yaml"
    path.write_text(yaml.safe_dump({"definitions": _pools(), "deployments": [GOOD]}))
    assert [d.name for d in check_prefect_yaml(path).deployments] == ["ok"]


def test_the_validator_never_imports_prefect() -> None:
    source = (ROOT / "torchtrader" / "ops" / "deployments.py").read_text()
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not any(name.split(".")[0] == "prefect" for name in imported)


def _pools() -> dict[str, object]:
    return {"work_pools": {"local": {"name": "local-process", "work_queue_name": "default"}}}


def _prefect_file(tmp_path: Path, deployments: list[dict[str, object]]) -> Path:
    folder = tmp_path / "deployments"
    folder.mkdir(exist_ok=True)
    path = folder / "prefect.yaml"
    path.write_text(yaml.safe_dump({"definitions": _pools(), "deployments": deployments}))
    # entrypoints of these entries are the repo's own flows
    return path
