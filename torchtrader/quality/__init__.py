"""Bars validation: a fast polars pass, a Great Expectations suite, quarantine rows and Data Docs."""

from torchtrader.quality.docs import build_data_docs
from torchtrader.quality.quarantine import quarantine_frame
from torchtrader.quality.report import ExpectationOutcome, Gap, ValidationReport
from torchtrader.quality.rules import RULES, Rule, bars_expectation_suite
from torchtrader.quality.validate import validate_bars

__all__ = [
    "RULES",
    "ExpectationOutcome",
    "Gap",
    "Rule",
    "ValidationReport",
    "bars_expectation_suite",
    "build_data_docs",
    "quarantine_frame",
    "validate_bars",
]
