"""Feature fan-out: compute a feature set for many (source, symbol, timeframe) series with Dask.

Each Dask task reads one series from the lake at a pinned ``bars`` version, computes the feature
set (``catalogue.compute_features``) and returns the rows tagged with that version, so every
feature row says exactly which bars produced it. The caller (the features flow) writes them to the
``features`` table in one upsert. Runs on a ``LocalCluster`` by default or on any scheduler by
address (``Settings.dask_address`` / ``TORCHTRADER_DASK_ADDRESS``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl

from torchtrader.errors import ConfigError, LakeError
from torchtrader.indicators.catalogue import FeatureSet, compute_features

logger = logging.getLogger(__name__)

FEATURES_TABLE = "features"
FEATURES_KEY = ("source", "symbol", "timeframe", "ts")
FEATURES_PARTITION = ("source", "timeframe", "symbol")

# glibc malloc settings for LocalCluster worker processes (read once, at process start). Dask's
# default pre-spawn MALLOC_TRIM_THRESHOLD_=65536 also freezes glibc's mmap threshold at 128 KiB, so
# every TA-Lib output array (800 KB for 100k bars) is a fresh mmap: ~7,700 page faults and ~12 ms
# of kernel time per 20-feature symbol, a third of the work. Keeping arrays up to 16 MiB on the
# heap and trimming only past 64 MiB of free top recycles them instead (measured: 35 -> 22 ms).
WORKER_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(16 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 2**20),
}

DEFAULT_FEATURES = FeatureSet.of(
    {"function": "SMA", "params": {"timeperiod": 20}},
    {"function": "EMA", "params": {"timeperiod": 20}},
    {"function": "RSI", "params": {"timeperiod": 14}},
    {"function": "MACD"},
    {"function": "BBANDS", "params": {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}},
    {"function": "ATR", "params": {"timeperiod": 14}},
)


@dataclass(frozen=True)
class SeriesKey:
    """One series of the ``bars`` table."""

    source: str
    symbol: str
    timeframe: str


def series_features(
    lake_uri: str,
    storage_options: dict[str, str] | None,
    series: SeriesKey,
    feature_set: FeatureSet,
    bars_version: int,
) -> pl.DataFrame:
    """The feature rows of one series at one ``bars`` version (runs on a Dask worker)."""
    from torchtrader.lake import Lake

    lake = Lake(lake_uri, storage_options=storage_options)
    bars = lake.read_bars(series.symbol, series.timeframe, source=series.source, version=bars_version)
    features = compute_features(bars, feature_set)
    return features.with_columns(pl.lit(bars_version, dtype=pl.Int64).alias("bars_version"))


# Even without a dashboard the scheduler serves an HTTP endpoint (metrics, health), on :8787 unless told
# otherwise: a second cluster on the machine then warns and moves. Any free port, every time.
SCHEDULER_KWARGS: dict[str, str] = {"dashboard_address": ":0"}


@contextmanager
def dask_client(address: str | None, workers: int) -> Iterator[Any]:
    """A ``distributed.Client``: to the scheduler at ``address``, else a fresh LocalCluster.

    A LocalCluster's workers get ``WORKER_MALLOC_ENV`` (see there); a remote cluster keeps its own.
    Reaching ``address`` is given dask's ``distributed.comm.timeouts.connect`` (30 s unless set, e.g.
    ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``).
    """
    import dask
    from distributed import Client, LocalCluster

    if address:
        try:
            timeout = dask.config.get("distributed.comm.timeouts.connect")
            client = Client(address, timeout=timeout)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            yield client
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return
    # pre-spawn-environ (not Nanny(env=...)): malloc reads these before any Python code runs
    with dask.config.set(
        {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()}
    ):
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs=SCHEDULER_KWARGS,
        )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def fan_out_features(
    lake_uri: str,
    series: Sequence[SeriesKey],
    feature_set: FeatureSet,
    bars_version: int,
    *,
    storage_options: dict[str, str] | None = None,
    address: str | None = None,
    workers: int = 2,
) -> pl.DataFrame:
    """Features of every series, computed in parallel on Dask; one frame sorted by series and ts."""
    if not series:
        raise LakeError("no series to compute features for")
    with dask_client(address, workers) as client:
        futures = client.map(
            series_features,
            [lake_uri] * len(series),
            [storage_options] * len(series),
            list(series),
            [feature_set] * len(series),
            [bars_version] * len(series),
            pure=False,
        )
        frames = client.gather(futures)
    logger.info("computed %d feature columns for %d series", len(feature_set.columns), len(frames))
    result: pl.DataFrame = pl.concat(frames, how="vertical").sort(*FEATURES_KEY)
    return result
