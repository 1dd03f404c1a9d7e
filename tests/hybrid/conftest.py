"""Hybrid set-up on loopback: a `dask scheduler` + `dask worker` pair, a `ray start --head` head and
the lake on moto's S3 server, each in its own process as a user would start them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# A loopback Ray head private to these tests runs without Ray 2.60's shared auth token. On SIGTERM a
# head first drains its node for RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S (30 s; for Serve replicas, which
# it has none of) through a GCS the same signal to its process group has just stopped: 0 skips that.
NO_AUTH = {
    **os.environ,
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="package")
def s3_lake() -> Iterator[tuple[str, dict[str, str]]]:
    """(lake URI, storage options) of a fresh bucket on moto's S3 server (its own process)."""
    import boto3

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        options = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)  # fmt: skip
        yield f"s3://{bucket}/lake", options
    finally:
        _stop(server)


@pytest.fixture(scope="package")
def dask_scheduler() -> Iterator[str]:
    from distributed import Client

    dask = shutil.which("dask", path=str(BIN)) or "dask"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    workdir = tempfile.mkdtemp(prefix="dask-", dir="/tmp")
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir, start_new_session=True,
        ),
        subprocess.Popen(
            [dask, "worker", address, "--nthreads", "2", "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir, start_new_session=True,
        ),
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(1, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.fixture(scope="package")
def ray_head() -> Iterator[str]:
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rh-", dir="/tmp")  # short: Ray's socket paths have a length limit
    log = Path(temp, "head.log").open("wb")  # noqa: SIM115 - open for the head's whole life
    process = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--temp-dir", temp, "--num-cpus", "1", "--include-dashboard", "false", "--block"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=NO_AUTH,
    )  # fmt: skip
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"ray head exited: {Path(temp, 'head.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
        log.close()


@pytest.fixture(scope="package", autouse=True)
def _prefect_api() -> Iterator[None]:
    """The flows here need a Prefect API: the session's harness when one is already up (the flow
    tests' one, never nested), else one of our own for this package."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
