"""The cloud footprints parse, are wired (every variable used and declared, every reference defined,
everything described) and pass checkov with each skip explained where it is made.

No terraform binary exists here (STACK-NOTES), so HCL is parsed with python-hcl2 and scanned with
checkov, which runs from its own tool venv (``.venv-iac``, made by ``make install``) because its
pins clash with the project's.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
CLOUDS = ("aws", "gcp", "azure")
CHECKOV = ROOT / ".venv-iac" / "bin" / "checkov"
_PROVIDER_PREFIXES = ("aws_", "google_", "azurerm_", "prefect_", "random_")


def _unquote(key: str) -> str:
    return key.strip('"')


@cache
def _parsed(cloud: str) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((TERRAFORM / cloud).glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            document = hcl2.load(handle)
        for block, entries in document.items():
            if block != "__comments__":
                merged.setdefault(block, []).extend(entries)
    return merged


def _text(cloud: str) -> str:
    """Every file's text without comments: what references may appear in."""
    lines = []
    for path in sorted((TERRAFORM / cloud).glob("*.tf")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.lstrip().startswith("#"):
                lines.append(line)
    return "\n".join(lines)


def _named(cloud: str, block: str) -> dict[str, Any]:
    return {_unquote(name): body for entry in _parsed(cloud).get(block, []) for name, body in entry.items()}


def _typed(cloud: str, block: str) -> set[str]:
    """``TYPE.NAME`` of every resource (or data source) declared."""
    return {
        f"{_unquote(kind)}.{_unquote(name)}"
        for entry in _parsed(cloud).get(block, [])
        for kind, named in entry.items()
        for name in named
    }


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_file_parses_and_declares_the_footprint(cloud: str) -> None:
    kinds = {name.split(".")[0] for name in _typed(cloud, "resource")}
    storage, database, compute = {
        "aws": ("aws_s3_bucket", "aws_db_instance", "aws_ecs_service"),
        "gcp": ("google_storage_bucket", "google_sql_database_instance", "google_cloud_run_v2_service"),
        "azure": ("azurerm_storage_account", "azurerm_postgresql_flexible_server", "azurerm_container_app"),
    }[cloud]
    assert {storage, database, compute, "prefect_work_pool"} <= kinds


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_variable_is_described_used_and_every_use_declared(cloud: str) -> None:
    variables = _named(cloud, "variable")
    undescribed = [name for name, body in variables.items() if not _unquote(body.get("description", ""))]
    assert not undescribed, f"variables without a description: {undescribed}"
    used = set(re.findall(r"\bvar\.([A-Za-z0-9_]+)", _text(cloud)))
    assert used - set(variables) == set(), f"undeclared variables: {used - set(variables)}"
    assert set(variables) - used == set(), f"variables never used: {set(variables) - used}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_reference_is_defined(cloud: str) -> None:
    text = _text(cloud)
    resources, data = _typed(cloud, "resource"), _typed(cloud, "data")
    locals_ = {name for entry in _parsed(cloud).get("locals", []) for name in entry}
    referenced_data = set(re.findall(r"\bdata\.([a-z0-9_]+\.[a-z0-9_]+)", text))
    assert referenced_data - data == set(), f"undefined data sources: {referenced_data - data}"
    referenced = {
        match
        for match in re.findall(r"(?<![\w.\"/-])([a-z][a-z0-9]*_[a-z0-9_]+\.[a-z0-9_]+)", text)
        if match.startswith(_PROVIDER_PREFIXES) and not match.split(".")[1].startswith(("id", "arn"))
    }
    referenced = {ref for ref in referenced if ref.split(".")[0] in {r.split(".")[0] for r in resources}}
    assert referenced - resources == set(), f"undefined resources: {referenced - resources}"
    used_locals = set(re.findall(r"\blocal\.([A-Za-z0-9_]+)", text))
    assert used_locals - locals_ == set(), f"undefined locals: {used_locals - locals_}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_output_is_described(cloud: str) -> None:
    outputs = _named(cloud, "output")
    assert outputs, f"{cloud} declares no outputs"
    undescribed = [name for name, body in outputs.items() if not _unquote(body.get("description", ""))]
    assert not undescribed, f"outputs without a description: {undescribed}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_checkov_skip_says_why(cloud: str) -> None:
    for path in (TERRAFORM / cloud).glob("*.tf"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+: \S.{15,}", line), (
                    f"{path.name}:{number}: a skip needs its reason after the check id"
                )


@pytest.mark.slow
def test_checkov_passes_on_every_cloud() -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make install` (it builds the .venv-iac tool venv)"
    dirs = [arg for cloud in CLOUDS for arg in ("-d", str(TERRAFORM / cloud))]
    scan = subprocess.run(
        [str(CHECKOV), *dirs, "--framework", "terraform", "--quiet", "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert scan.returncode == 0, scan.stdout[-4000:] + scan.stderr[-2000:]
    assert "Failed checks: 0" in scan.stdout


def test_worker_image_is_pinned_small_and_not_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases and all(re.search(r":\d+\.\d+\.\d+-slim", base) for base in bases), bases
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "the final stage must run as a non-root user"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "data_lake", "tests"} <= set(ignored), "the build context must stay small"


@pytest.mark.slow
def test_checkov_passes_on_the_dockerfile() -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make install`"
    scan = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(ROOT / "Dockerfile"),
            "--framework",
            "dockerfile",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert scan.returncode == 0, scan.stdout[-4000:] + scan.stderr[-2000:]
