"""An ``s3://`` lake behaves like a local one (moto's S3 server on loopback stands in for AWS)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import boto3
import polars as pl
import pytest

from tests.lake.conftest import T0, apply, as_model, make_bars
from torchtrader.config import load_settings
from torchtrader.errors import LakeError
from torchtrader.lake import Lake


@pytest.fixture
def s3_lake(s3_endpoint: str) -> Lake:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    options = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        # Safe concurrent commits through S3 conditional writes (no DynamoDB lock table needed).
        "aws_conditional_put": "etag",
    }
    settings = load_settings(lake=f"s3://{bucket}/torchtrader", storage_options=options)
    return Lake.from_settings(settings)


def test_upsert_read_and_time_travel_on_s3(s3_lake: Lake) -> None:
    first = make_bars(n=24)
    overlap = make_bars(start=T0 + timedelta(hours=20), n=10, price=7.0)  # 4 revisions + 6 new bars
    v1 = s3_lake.upsert_bars(first)
    v2 = s3_lake.upsert_bars(overlap)
    again = s3_lake.upsert_bars(overlap)
    assert (v1.rows_added, v2.rows_added, v2.rows_updated) == (24, 6, 4)
    assert (again.rows_added, again.version) == (0, v2.version)
    assert s3_lake.version() == v2.version
    assert as_model(s3_lake.read_bars("BTC/USDT", "1h")) == apply(as_model(first), overlap)
    assert s3_lake.read_bars("BTC/USDT", "1h", version=v1.version).height == 24
    assert s3_lake.read_bars_pandas("BTC/USDT", "1h").shape == (30, 9)
    assert s3_lake.last_ts("test", "BTC/USDT", "1h") == T0 + timedelta(hours=29)


def test_tables_and_sql_on_s3(s3_lake: Lake) -> None:
    s3_lake.upsert_bars(make_bars("ETH/USDT", n=5))
    s3_lake.write_table("features", pl.DataFrame({"symbol": ["ETH/USDT"], "x": [1.0]}))
    assert s3_lake.tables() == ["bars", "features"]
    assert s3_lake.sql("SELECT count(*) AS n FROM bars JOIN features USING (symbol)")["n"].item() == 5
    assert [s.rows for s in s3_lake.series()] == [5]


def test_a_missing_bucket_is_a_lake_error(s3_endpoint: str) -> None:
    lake = Lake(
        "s3://no-such-bucket/lake",
        {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "aws_conditional_put": "etag",
        },
    )
    with pytest.raises(LakeError, match="failed"):
        lake.upsert_bars(make_bars(n=2))
