"""SIGKILL a writer at random points: the lake stays readable, never shows half a write, and a re-run
of the writer converges to exactly the expected rows."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lake.conftest import Key, Values, apply, as_model
from tests.lake.crash_writer import batches, run
from torchtrader.lake import Lake

WRITER = Path(__file__).with_name("crash_writer.py")
TRIALS = 20


def prefix_states() -> list[dict[Key, Values]]:
    """The lake content after 0, 1, ..., n batches, computed with plain dicts (last write wins)."""
    states: list[dict[Key, Values]] = [{}]
    for frame in batches():
        states.append(apply(states[-1], frame))
    return states


def lake_state(uri: str) -> tuple[dict[Key, Values], int]:
    lake = Lake(uri)
    if lake.version() is None:
        return {}, 0
    table = lake.read_table("bars")
    sql_rows = lake.sql("SELECT count(*) AS n FROM bars")["n"].item()
    assert sql_rows == table.height  # the DuckDB path sees the same snapshot
    return as_model(table), table.height


def spawn_writer(uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )


def go(writer: subprocess.Popen[str]) -> None:
    """Wait until the writer has imported everything, then let it start writing."""
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "ready"
    with writer.stdin:
        writer.stdin.write("go\n")


def finish(writer: subprocess.Popen[str]) -> int:
    """Wait for the writer to end; how many commits it reported."""
    writer.wait()
    assert writer.stdout is not None
    with writer.stdout:  # read through the same buffer wait_ready used
        output = writer.stdout.read()
    return sum(1 for line in output.splitlines() if line.startswith("committed"))


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_a_consistent_lake(tmp_path: Path) -> None:
    states = prefix_states()
    expected = states[-1]

    # Calibrate the kill window on a full, undisturbed run of the same writer (after its imports).
    writer = spawn_writer(str(tmp_path / "calibration"))
    go(writer)
    began = time.perf_counter()
    assert finish(writer) == len(states) - 1
    window = time.perf_counter() - began
    assert writer.returncode == 0
    assert lake_state(str(tmp_path / "calibration"))[0] == expected

    rng = random.Random(20261125)
    interrupted = 0
    upcoming = spawn_writer(str(tmp_path / "trial0"))
    for trial in range(TRIALS):
        uri, writer = str(tmp_path / f"trial{trial}"), upcoming
        go(writer)
        time.sleep(rng.uniform(0.0, 0.8 * window))  # later kills mostly find a finished writer
        writer.send_signal(signal.SIGKILL)
        reported = finish(writer)
        interrupted += reported < len(states) - 1
        if trial + 1 < TRIALS:  # the next writer starts up while this trial is checked
            upcoming = spawn_writer(str(tmp_path / f"trial{trial + 1}"))

        state, rows = lake_state(uri)
        assert rows == len(state), f"trial {trial}: duplicate keys after the kill"
        # Atomic commits: the lake holds exactly the result of some whole number of batches,
        # at least every batch the writer reported and at most one more (killed after commit, before print).
        matches = [k for k, prefix in enumerate(states) if prefix == state]
        assert matches, f"trial {trial}: the lake shows a partial write"
        assert reported <= max(matches) and min(matches) <= reported + 1

        run(uri)  # re-run the writer to completion on the crashed lake
        final, final_rows = lake_state(uri)
        assert final == expected
        assert final_rows == len(expected)
    assert interrupted >= TRIALS // 2, "too few kills landed mid-run to prove anything"
