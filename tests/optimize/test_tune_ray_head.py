"""A tune against a Ray cluster address: a real `ray start --head` on 127.0.0.1 in its own temp dir,
driven by a `torchtrader tune` subprocess (this pytest process already holds the session's local Ray),
stopped by killing the head's own process group (never `ray stop`, which would hit other clusters)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from torchtrader.lake import Lake
from torchtrader.testing.market import sample_frame
from torchtrader.testing.net import free_port

pytestmark = pytest.mark.slow


# Ray 2.60 authenticates clients with a token from ~/.ray/auth_token, a file every Ray on this machine
# shares; a loopback head private to this test runs without it (head and client alike). On SIGTERM a
# head first drains its node for RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S (30 s; for Serve replicas, which
# it has none of) through a GCS the same signal to its process group has just stopped: 0 skips that.
NO_AUTH = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


@pytest.fixture
def ray_head() -> Iterator[str]:
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rh-", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray = Path(sys.executable).with_name("ray")
    log = Path(temp, "head.log").open("wb")  # noqa: SIM115 - open for the head's whole life
    process = subprocess.Popen(
        [str(ray), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--temp-dir", temp, "--num-cpus", "1", "--include-dashboard", "false", "--block"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=NO_AUTH,
    )  # fmt: skip
    try:
        while True:  # ready once the GCS port accepts connections
            if process.poll() is not None:
                pytest.fail(f"ray head exited: {Path(temp, 'head.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_a_tune_runs_on_a_ray_head_started_for_it(ray_head: str, lake_uri: str, tmp_path: Path) -> None:
    Lake(lake_uri).upsert_bars(sample_frame("SPX", date(2017, 1, 1), date(2018, 12, 31)))
    cli = Path(sys.executable).with_name("torchtrader")
    out = tmp_path / "tune.json"
    done = subprocess.run(
        [str(cli), "--lake", lake_uri, "tune", "--symbol", "SPX", "--strategy", "sma_cross",
         "--space", "fast=5:15:5", "--space", "slow=30:50:20", "--search", "random", "--samples", "5",
         "--seed", "3", "--ray-address", ray_head, "--no-track", "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env=NO_AUTH,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["n_evaluations"] == 5  # 3 fast x 2 slow values hold 6 combos; 5 distinct were drawn
    assert doc["run_id"] is None and doc["seed"] == 3
    assert len({tuple(row["params"].values()) for row in doc["top"]}) == 5
