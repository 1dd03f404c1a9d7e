"""CLI tests run the real entry point in-process against a fresh temp lake."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def cli(run_cli: Callable[..., Any], lake_uri: str) -> Callable[..., Any]:
    return functools.partial(run_cli, lake_uri)
