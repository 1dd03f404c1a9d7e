"""Upserts into ``bars``: idempotent on (source, symbol, timeframe, ts), last write wins, one version each."""

from __future__ import annotations

import tempfile
import threading
from datetime import timedelta

import polars as pl
from deltalake import write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lake.conftest import T0, Key, Values, apply, as_model, make_bars
from torchtrader.lake import Lake


def stored(lake: Lake) -> pl.DataFrame:
    return lake.read_table("bars")


def test_a_new_lake_has_no_bars_and_no_version(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    assert lake.version() is None
    assert lake.series() == []
    assert lake.tables() == []
    assert lake.last_ts("test", "BTC/USDT", "1h") is None


def test_first_write_reports_rows_and_version(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    result = lake.upsert_bars(make_bars(n=10))
    assert (result.table, result.rows_written, result.rows_added, result.rows_updated) == ("bars", 10, 10, 0)
    assert result.version == lake.version() == 1  # version 0 is the empty table's creation
    assert result.committed


def test_rewriting_the_same_bars_adds_nothing_and_commits_nothing(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    first = lake.upsert_bars(make_bars(n=10))
    again = lake.upsert_bars(make_bars(n=10))
    assert (again.rows_written, again.rows_added, again.rows_updated) == (10, 0, 0)
    assert again.version == first.version
    assert not again.committed
    assert stored(lake).height == 10


def test_an_overlapping_batch_adds_only_the_new_keys(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars(n=10))
    # Hours 5..14 at the same prices as the first batch's hours 5..9: 5 repeats, 5 new bars.
    overlap = make_bars(start=T0 + timedelta(hours=5), n=10, price=105.0)
    result = lake.upsert_bars(overlap)
    assert (result.rows_added, result.rows_updated) == (5, 0)
    assert as_model(stored(lake)) == apply(as_model(make_bars(n=10)), overlap)
    assert stored(lake).height == 15


def test_changed_values_for_existing_keys_replace_them(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    lake.upsert_bars(make_bars(n=10))
    revised = make_bars(start=T0 + timedelta(hours=8), n=4, price=500.0)  # 2 revisions, 2 new bars
    result = lake.upsert_bars(revised)
    assert (result.rows_added, result.rows_updated) == (2, 2)
    assert as_model(stored(lake)) == apply(as_model(make_bars(n=10)), revised)


def test_backfilling_older_history_and_filling_gaps_are_plain_inserts(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    every_other = make_bars(n=20).gather_every(2)
    lake.upsert_bars(every_other)
    older = make_bars(start=T0 - timedelta(hours=5), n=5, price=95.0)
    gaps = make_bars(n=20).gather_every(2, offset=1)
    assert lake.upsert_bars(older).rows_added == 5
    assert lake.upsert_bars(gaps).rows_added == 10
    expected = apply(apply(as_model(every_other), older), gaps)
    assert as_model(stored(lake)) == expected
    assert stored(lake).height == 25


def test_unsorted_and_interleaved_series_are_accepted(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    frame = pl.concat([make_bars("A/USD", n=6), make_bars("B/USD", n=6)]).sample(
        fraction=1.0, shuffle=True, seed=1
    )
    assert lake.upsert_bars(frame).rows_added == 12
    assert lake.read_bars("A/USD", "1h")["ts"].is_sorted()
    assert as_model(stored(lake)) == as_model(frame)


def test_each_commit_is_a_version_that_stays_readable(lake_uri: str) -> None:
    lake = Lake(lake_uri)
    v1 = lake.upsert_bars(make_bars(n=5)).version
    v2 = lake.upsert_bars(make_bars(start=T0 + timedelta(hours=5), n=5, price=105.0)).version
    v3 = lake.upsert_bars(make_bars(n=3, price=1.0)).version
    assert v1 is not None and v2 is not None and v3 is not None
    assert v1 < v2 < v3
    assert lake.read_bars("BTC/USDT", "1h", version=v1).height == 5
    assert lake.read_bars("BTC/USDT", "1h", version=v2)["close"].head(3).to_list() == [100.0, 101.0, 102.0]
    assert lake.read_bars("BTC/USDT", "1h", version=v3)["close"].head(3).to_list() == [1.0, 2.0, 3.0]
    assert [h["version"] for h in lake.history()][:3] == [v3, v2, v1]


batch = st.tuples(
    st.sampled_from(["A/USD", "B/USD"]),
    st.integers(min_value=-6, max_value=30),  # start hour
    st.integers(min_value=1, max_value=12),  # bars
    st.sampled_from([100.0, 200.0]),  # price level: same level = identical rows, other = revisions
)


@settings(max_examples=12, deadline=None)
@given(batches=st.lists(batch, min_size=1, max_size=5))
def test_any_sequence_of_upserts_equals_last_write_wins(batches: list[tuple[str, int, int, float]]) -> None:
    with tempfile.TemporaryDirectory() as root:
        lake = Lake(root)
        model: dict[Key, Values] = {}
        for symbol, hour, n, price in batches:
            frame = make_bars(symbol, T0 + timedelta(hours=hour), n, price=price + hour)
            before = len(model)
            result = lake.upsert_bars(frame)
            model = apply(model, frame)
            assert result.rows_added == len(model) - before
        table = stored(lake)
        assert as_model(table) == model
        assert table.height == len(model)  # no key twice


def test_writers_of_different_series_can_commit_concurrently(lake_uri: str) -> None:
    Lake(lake_uri).upsert_bars(make_bars("SEED", n=1))
    failures: list[BaseException] = []
    models: dict[str, dict[Key, Values]] = {}

    def writer(symbol: str) -> None:
        lake, model = Lake(lake_uri), {}
        try:
            for k in range(6):  # overlapping batches; odd ones revise the overlap (MERGE)
                frame = make_bars(symbol, T0 + timedelta(hours=5 * k), 8, price=100 + 5 * k + (k % 2) / 2)
                lake.upsert_bars(frame)
                model = apply(model, frame)
        except BaseException as error:
            failures.append(error)
        models[symbol] = model

    threads = [threading.Thread(target=writer, args=(f"S{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    expected = as_model(make_bars("SEED", n=1))
    for model in models.values():
        expected.update(model)
    assert as_model(stored(Lake(lake_uri))) == expected
    assert stored(Lake(lake_uri)).height == 1 + 3 * 33


def test_a_bars_table_written_by_another_engine_without_statistics(lake_uri: str) -> None:
    # No per-file statistics: the lake cannot prove a batch is new, so it must compare, not append.
    first = make_bars(n=6)
    write_deltalake(
        f"{lake_uri}/bars",
        first.to_arrow(),
        partition_by=["source", "timeframe", "symbol"],
        configuration={"delta.dataSkippingNumIndexedCols": "0"},
    )
    lake = Lake(lake_uri)
    assert lake.series()[0].rows == 6
    result = lake.upsert_bars(make_bars(start=T0 + timedelta(hours=3), n=6, price=103.0))
    assert (result.rows_added, result.rows_updated) == (3, 0)
    assert stored(lake).height == 9
    assert lake.last_ts("test", "BTC/USDT", "1h") == T0 + timedelta(hours=8)
