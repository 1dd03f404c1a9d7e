"""The Great Expectations bars suite: declared once from the rules, and an independent second opinion.

GX evaluates its own expectations on pandas; these tests hold its verdicts against a hand-written
table of which input rows break which rule, and against the fast polars pass.
"""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.quality.conftest import MakeBars
from torchtrader.quality import RULES, bars_expectation_suite, gx_run, validate_bars

NAN = math.nan

# Hours on 2024-01-01; row 10 repeats row 0 exactly (collapsed, so GX never sees it).
BAD_ROWS = [
    ("2024-01-01T00:00", 10, 11, 9, 10.5, 100),
    ("2024-01-01T01:00", NAN, 11, 9, 10.5, 100),  # open NaN
    ("2024-01-01T02:00", 10, 11, 9, 10.5, 100),  # conflicts with row 3
    ("2024-01-01T02:00", 10, 11, 9, 10.6, 100),
    ("2024-01-01T04:00", 10, 9, 11, 10, 1),  # high below low (and below open/close)
    ("2024-01-01T05:00", 1, 2, 0, 1, 1),  # zero low
    ("2024-01-01T06:00", 10, 11, 9, 10.5, -1),  # negative volume
    ("2024-01-01T07:30", 10, 11, 9, 10.5, 1),  # misaligned
    (None, 10, 11, 9, 10.5, 1),  # no timestamp
    ("2024-01-01T03:00", 10, 11, 9, 10.5, 100),  # out of order, otherwise fine
    ("2024-01-01T00:00", 10, 11, 9, 10.5, 100),  # exact duplicate of row 0
    ("2024-01-01T09:00", 12, 11, 9, 10, 1),  # high below open
]
# Worked by hand from the rule definitions: rule -> input rows that break it.
BROKEN_BY_HAND = {
    "open_not_null": [1],
    "ts_not_null": [8],
    "ts_unique": [2, 3],
    "ts_increasing": [3],  # in (series, ts) order row 3 follows row 2 with the same ts
    "ts_aligned": [7],
    "low_positive": [5],
    "volume_not_negative": [6],
    "high_not_below_low": [4],
    "high_not_below_open": [4, 11],
    "high_not_below_close": [4],
    "low_not_above_open": [4],
    "low_not_above_close": [4],
}


def test_the_suite_is_generated_from_the_rule_table() -> None:
    suite = bars_expectation_suite()
    assert [e.meta["rule"] for e in suite.expectations] == [rule.name for rule in RULES]
    assert Counter(e.expectation_type for e in suite.expectations) == {
        "expect_column_values_to_not_be_null": 9,
        "expect_compound_columns_to_be_unique": 1,
        "expect_column_values_to_be_between": 7,  # ts step, ts offset, 4 prices, volume
        "expect_column_pair_values_a_to_be_greater_than_b": 5,
    }


def test_gx_flags_the_rows_worked_out_by_hand_and_agrees_with_the_fast_path(make_bars: MakeBars) -> None:
    report = validate_bars(make_bars(BAD_ROWS))
    by_rule = {outcome.name: outcome for outcome in report.expectations}

    assert list(by_rule) == [rule.name for rule in RULES]
    for rule in RULES:
        outcome = by_rule[rule.name]
        expected = BROKEN_BY_HAND.get(rule.name, [])
        assert list(outcome.unexpected_rows) == expected, rule.name
        assert outcome.unexpected_count == len(expected)
        assert outcome.success is (not expected)
        assert outcome.element_count == len(BAD_ROWS) - 1
        assert outcome.agrees
        if rule.row_level:  # the fast path gave exactly these rows this rule's reason
            flagged = report.invalid.filter(report.invalid["reason"].str.contains(rule.reason, literal=True))
            assert flagged["row"].to_list() == expected, rule.name
    assert report.gx_agrees


def test_big_batches_show_gx_every_flagged_row_plus_an_even_sample(
    make_bars: MakeBars, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gx_run, "GX_SAMPLE_ROWS", 40)
    rows = [(f"2024-01-{1 + h // 24:02d}T{h % 24:02d}:00", 10, 11, 9, 10.5, 1) for h in range(24 * 10)]
    rows[17] = (rows[17][0], 10, 11, 9, 10.5, -3)
    rows[200] = (rows[200][0], 0, 11, 9, 10.5, 1)
    report = validate_bars(make_bars(rows))
    by_rule = {outcome.name: outcome for outcome in report.expectations}

    assert by_rule["volume_not_negative"].unexpected_rows == (17,)
    assert by_rule["open_positive"].unexpected_rows == (200,)
    assert 2 < by_rule["ts_aligned"].element_count <= 40
    assert report.gx_agrees


def test_concurrent_validations_share_one_gx_context_safely(make_bars: MakeBars) -> None:
    frame = make_bars(BAD_ROWS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda _: validate_bars(frame), range(4)))
    assert all(r.expectations == reports[0].expectations for r in reports)
    assert reports[0].gx_agrees
    assert gx_run._ephemeral.cache_info().currsize == 1


def test_run_gx_false_skips_great_expectations(make_bars: MakeBars) -> None:
    report = validate_bars(make_bars(BAD_ROWS), run_gx=False)
    assert report.expectations == []
    assert report.first_error() == (1, "open is null or NaN")
