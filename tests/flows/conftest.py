"""Prefect layer tests: ONE real Prefect API server (SQLite) for the whole session.

Every flow test takes the ``prefect_harness`` fixture; never nest harnesses (STACK-NOTES).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
