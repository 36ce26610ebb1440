"""Fixtures of the report tests: inventory and Strava tables with known contents on the local AWS.

The data are generated here, the expected answers are computed from the same pyarrow tables in
plain Python, and the tables are created through the stack's Athena with the DDL below.
"""

from __future__ import annotations

import dataclasses
import io
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from datalake.config import get_config
from datalake.reports.queries import fetch_results

BUCKET = "reports-test-data"
INVENTORY_DB = "s3_inventory_reports_test"
STRAVA_DB = "strava_reports_test"
OLDEST_MS = 1620147401000  # 2021-05-04 16:56:41 UTC
DAY_1, DAY_2 = "2026-11-19-01-00", "2026-11-20-01-00"
CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER_IR", "INTELLIGENT_TIERING")
ENCRYPTION = ("SSE-S3", "SSE-KMS", "NOT-SSE")
PREFIXES = ("photos/", "videos/", "logs/2026/", "")

INVENTORY_SCHEMA = pa.schema(
    [
        ("bucket", pa.string()),
        ("key", pa.string()),
        ("version_id", pa.string()),
        ("is_latest", pa.bool_()),
        ("is_delete_marker", pa.bool_()),
        ("size", pa.int64()),
        ("last_modified_date", pa.int64()),
        ("e_tag", pa.string()),
        ("storage_class", pa.string()),
        ("is_multipart_uploaded", pa.bool_()),
        ("replication_status", pa.string()),
        ("encryption_status", pa.string()),
        ("object_lock_retain_until_date", pa.int64()),
        ("object_lock_mode", pa.string()),
        ("object_lock_legal_hold_status", pa.string()),
        ("intelligent_tiering_access_tier", pa.string()),
        ("bucket_key_status", pa.string()),
        ("checksum_algorithm", pa.string()),
    ]
)
INVENTORY_DDL = """CREATE EXTERNAL TABLE IF NOT EXISTS {db}.{table} (
  bucket string, key string, version_id string, is_latest boolean, is_delete_marker boolean, size bigint,
  last_modified_date bigint, e_tag string, storage_class string, is_multipart_uploaded boolean,
  replication_status string, encryption_status string, object_lock_retain_until_date bigint,
  object_lock_mode string, object_lock_legal_hold_status string, intelligent_tiering_access_tier string,
  bucket_key_status string, checksum_algorithm string)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{bucket}/{table}/'"""

STRAVA_DDL = """CREATE EXTERNAL TABLE IF NOT EXISTS {db}.activities (
  id bigint, name string, sport_type string, start_date timestamp, distance_m double,
  moving_time_s bigint, elapsed_time_s bigint, total_elevation_gain_m double)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION 's3://{bucket}/activities/'"""


def generate_inventory(seed: int, n: int = 300, *, drop: int = 0, extra: int = 0) -> pa.Table:
    """One drop: ``n`` objects (minus the first ``drop``, plus ``extra`` new ones), with versions,
    delete markers, zero-byte folder objects and one object last modified at ``OLDEST_MS``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    rows: list[dict[str, Any]] = []
    base_ms = 1_700_000_000_000
    for i in range(drop, n + extra):
        prefix = PREFIXES[i % len(PREFIXES)]
        folder = i % 37 == 0 and prefix != ""
        key = f"{prefix}folder-{i}/" if folder else f"{prefix}object-{i:05d}.bin"
        storage_class = CLASSES[(i * 7) % len(CLASSES)]
        size = 0 if folder else rng.randint(1, 5_000_000)
        modified = OLDEST_MS if i == n - 1 else base_ms + rng.randint(0, 90 * 86_400_000)
        row = {
            "bucket": "media-prod",
            "key": key,
            "version_id": f"v{i}-current",
            "is_latest": True,
            "is_delete_marker": False,
            "size": size,
            "last_modified_date": modified,
            "e_tag": f"etag{i}",
            "storage_class": storage_class,
            "is_multipart_uploaded": size > 4_000_000,
            "replication_status": None,
            "encryption_status": ENCRYPTION[i % len(ENCRYPTION)],
            "object_lock_retain_until_date": None,
            "object_lock_mode": None,
            "object_lock_legal_hold_status": "OFF",
            "intelligent_tiering_access_tier": "FREQUENT" if storage_class == "INTELLIGENT_TIERING" else None,
            "bucket_key_status": "DISABLED",
            "checksum_algorithm": "CRC64NVME",
        }
        rows.append(row)
        if i % 10 == 3:  # an older version of the same key
            rows.append(
                {
                    **row,
                    "version_id": f"v{i}-old",
                    "is_latest": False,
                    "size": rng.randint(1, 1_000_000),
                    "last_modified_date": modified - 86_400_000,
                }
            )
        if i % 25 == 4:  # deleted: the delete marker is the latest, the data stays as a non-current version
            rows[-1]["is_latest"] = False
            rows.append(
                {
                    **row,
                    "version_id": f"v{i}-dm",
                    "is_latest": True,
                    "is_delete_marker": True,
                    "size": None,
                    "e_tag": None,
                    "storage_class": None,
                    "last_modified_date": modified + 1000,
                }
            )
    return pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA)


def generate_activities(seed: int = 3) -> pa.Table:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    sports = ("Run", "Ride", "Swim")
    rows = []
    start = datetime(2025, 1, 1, 6, tzinfo=UTC)
    for i in range(1, 90):
        when = start + timedelta(
            days=rng.randint(0, 700), hours=rng.randint(0, 14), minutes=rng.randint(0, 59)
        )
        sport = sports[i % 3]
        moving = rng.randint(900, 14_000)
        rows.append(
            {
                "id": 10_000 + i,
                "name": f"Activity {i}",
                "sport_type": sport,
                "start_date": when,
                "distance_m": round(rng.uniform(500, 120_000), 1),
                "moving_time_s": moving,
                "elapsed_time_s": moving + rng.randint(0, 600),
                "total_elevation_gain_m": round(rng.uniform(0, 1500), 1),
            }
        )
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("sport_type", pa.string()),
            ("start_date", pa.timestamp("ms", tz="UTC")),
            ("distance_m", pa.float64()),
            ("moving_time_s", pa.int64()),
            ("elapsed_time_s", pa.int64()),
            ("total_elevation_gain_m", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def put_parquet(s3: Any, key: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    s3.put_object(Bucket=BUCKET, Key=key, Body=sink.getvalue())


class Athena:
    """Runs SQL on the stack's Athena and returns typed rows (the report's own reader)."""

    def __init__(self, endpoint_url: str) -> None:
        self.client = boto3.client("athena", endpoint_url=endpoint_url, region_name="us-east-1")
        self.output = f"s3://{BUCKET}/athena-results/"

    def run(self, sql: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # rows, QueryExecution
        qid = self.client.start_query_execution(
            QueryString=sql, ResultConfiguration={"OutputLocation": self.output}, WorkGroup="primary"
        )["QueryExecutionId"]
        for _ in range(600):
            execution = self.client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            state = execution["Status"]["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.05)
        assert state == "SUCCEEDED", f"{state}: {execution['Status'].get('StateChangeReason')}\n{sql}"
        if sql.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")):
            return [], execution
        return fetch_results(self.client, qid), execution


@pytest.fixture(scope="session")
def athena(local_aws: str) -> Athena:
    return Athena(local_aws)


@pytest.fixture(scope="session")
def s3(local_aws: str) -> Any:
    client = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def glue(local_aws: str) -> Any:
    return boto3.client("glue", endpoint_url=local_aws, region_name="us-east-1")


@pytest.fixture(scope="session")
def inventory_tables(s3: Any, athena: Athena) -> dict[str, pa.Table]:
    """Two drops of ``media_daily`` (DAY_1, then DAY_2 with 20 objects gone and 30 new)."""
    drops = {DAY_1: generate_inventory(11), DAY_2: generate_inventory(11, drop=20, extra=30)}
    athena.run(f"CREATE DATABASE IF NOT EXISTS {INVENTORY_DB}")
    athena.run(INVENTORY_DDL.format(db=INVENTORY_DB, table="media_daily", bucket=BUCKET))
    for dt, table in drops.items():
        put_parquet(s3, f"media_daily/dt={dt}/part-0.parquet", table)
        athena.run(
            f"ALTER TABLE {INVENTORY_DB}.media_daily ADD IF NOT EXISTS PARTITION (dt = '{dt}') "
            f"LOCATION 's3://{BUCKET}/media_daily/dt={dt}/'"
        )
    return drops


@pytest.fixture(scope="session")
def strava_table(s3: Any, athena: Athena, glue: Any) -> pa.Table:
    table = generate_activities()
    athena.run(f"CREATE DATABASE IF NOT EXISTS {STRAVA_DB}")
    athena.run(STRAVA_DDL.format(db=STRAVA_DB, bucket=BUCKET))
    days = sorted({r["start_date"].date().isoformat() for r in table.to_pylist()})
    for day in days:
        part = table.filter(pc.equal(pc.strftime(table["start_date"], format="%Y-%m-%d"), day))
        put_parquet(s3, f"activities/dt={day}/part-0.parquet", part)
    # Many partitions: registered through Glue in batches, as a pipeline would (one DDL each is slow).
    descriptor = glue.get_table(DatabaseName=STRAVA_DB, Name="activities")["Table"]["StorageDescriptor"]
    inputs = [
        {
            "Values": [day],
            "StorageDescriptor": {**descriptor, "Location": f"s3://{BUCKET}/activities/dt={day}/"},
        }
        for day in days
    ]
    for start in range(0, len(inputs), 100):
        answer = glue.batch_create_partition(
            DatabaseName=STRAVA_DB, TableName="activities", PartitionInputList=inputs[start : start + 100]
        )
        assert not answer.get("Errors"), answer["Errors"]
    return table


@pytest.fixture(scope="session")
def test_config() -> Any:
    config = get_config()
    inventory = dataclasses.replace(config.inventories[0], database=INVENTORY_DB, table="media_daily")
    strava = dataclasses.replace(config.strava, database=STRAVA_DB, table="activities")
    return dataclasses.replace(config, inventories=(inventory,), strava=strava)
