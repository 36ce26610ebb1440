"""Fixtures of the report tests: inventory and Strava tables with known contents on the local AWS.

The data are generated here (or by the embedded stack's simulated bucket, ``devstack.inventory_drops``),
the expected answers are computed from the same pyarrow tables in plain Python (``expected.py``), and the
tables are created through the stack's Athena with the DDL below or the inventory DAG's own.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from datalake.config import DatalakeConfig, InventoryConfig, get_config
from datalake.inventory import ddl, partitions
from datalake.inventory.manifest import schema_columns
from datalake.reports import history
from datalake.reports.queries import fetch_results, render_query
from devstack.inventory_drops import (
    DEFAULT_FIELDS,
    Drop,
    generate_objects,
    planted_anomaly,
    write_config_drop,
)

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
        self.endpoint_url = endpoint_url
        self.client = boto3.client("athena", endpoint_url=endpoint_url, region_name="us-east-1")
        self.output = f"s3://{BUCKET}/athena-results/"

    def reads(self, query_execution_id: str) -> list[dict[str, Any]]:
        """What the local Athena says a finished query read: per table, its partitions and bytes."""
        request = urllib.request.Request(  # noqa: S310 - the local endpoint, http://127.0.0.1
            self.endpoint_url,
            data=json.dumps({"QueryExecutionId": query_execution_id}).encode(),
            headers={
                "X-Amz-Target": "AmazonAthena.LocalGetQueryReads",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())["Reads"]

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
    """The configuration with the test tables, a daily storage summary and an alert topic of their own."""
    config = get_config()
    inventory = dataclasses.replace(config.inventories[0], database=INVENTORY_DB, table="media_daily")
    # no detail tables here (tests/strava/test_detail_reports.py runs the detail summaries)
    strava = dataclasses.replace(config.strava, database=STRAVA_DB, table="activities", details=False)
    reports = dataclasses.replace(
        config.reports, summary_database="reports_test_summary", summary_prefix="summary-test"
    )
    alerts = dataclasses.replace(
        config.alerts, notifier="sns", sns_topic_arn="arn:aws:sns:us-east-1:123456789012:reports-test-alerts"
    )
    return dataclasses.replace(
        config, inventories=(inventory,), strava=strava, reports=reports, alerts=alerts
    )


# -- the simulated bucket's drops, for the cost, savings and history summaries ------------------------------
SIMULATED_DB = "s3_inventory_simulated"
SIMULATED_DAYS = (date(2026, 11, 19), date(2026, 11, 20))  # the second with the planted anomaly
NO_TIER_FIELDS = tuple(f for f in DEFAULT_FIELDS if f != "intelligent_tiering_access_tier")


def simulated_inventory(config: DatalakeConfig, variant: str, fmt: str = "Parquet") -> InventoryConfig:
    """The inventory configuration of one table of simulated drops (``variant`` names it)."""
    return dataclasses.replace(
        config.inventories[0],
        name=f"sim_{variant}",
        destination_bucket=BUCKET,
        destination_prefix="simulated",
        config_id=variant.replace("_", "-"),
        database=SIMULATED_DB,
        table=f"sim_{variant}",
        format=fmt,
        partition_projection=False,
    )


def simulated_rows(day: date, fields: tuple[str, ...] = DEFAULT_FIELDS) -> pa.Table:
    """The simulated bucket's report of ``day``; the last day also lists the planted anomaly."""
    rows = generate_objects(day, fields=fields)
    if day == SIMULATED_DAYS[-1]:
        rows = pa.concat_tables([rows, planted_anomaly(day, fields=fields)])
    return rows


def land(s3: Any, glue: Any, athena: Athena, inv: InventoryConfig, day: date, table: pa.Table) -> Drop:
    """A drop in Amazon's layout, its table and partition made as the inventory DAG makes them."""
    drop = write_config_drop(s3, inv, day, fmt=inv.format, files=2, table=table)
    columns = schema_columns(inv.format, drop.manifest["fileSchema"])
    athena.run(f"CREATE DATABASE IF NOT EXISTS {SIMULATED_DB}")
    athena.run(ddl.render("create_table.sql", inv, drop={"columns": columns}))
    partitions.add_partition(glue, inv, drop.dt, columns)
    return drop


@pytest.fixture(scope="session")
def simulated_config(test_config: DatalakeConfig) -> DatalakeConfig:
    """The test configuration with the simulated bucket as its inventory."""
    return dataclasses.replace(test_config, inventories=(simulated_inventory(test_config, "daily"),))


@pytest.fixture(scope="session")
def simulated(s3: Any, glue: Any, athena: Athena, simulated_config: DatalakeConfig) -> dict[str, Any]:
    """The drops of SIMULATED_DAYS as Parquet ("daily"), and of the last day as CSV, ORC and a Parquet
    report without the Intelligent-Tiering tier column: variant -> {"inventory", "drops": {day: Drop}}."""
    found: dict[str, Any] = {}
    daily = simulated_config.inventories[0]
    found["daily"] = {
        "inventory": daily,
        "drops": {day: land(s3, glue, athena, daily, day, simulated_rows(day)) for day in SIMULATED_DAYS},
    }
    last = SIMULATED_DAYS[-1]
    for variant, fmt, fields in (
        ("csv", "CSV", DEFAULT_FIELDS),
        ("orc", "ORC", DEFAULT_FIELDS),
        ("no_tiers", "Parquet", NO_TIER_FIELDS),
    ):
        inv = simulated_inventory(simulated_config, variant, fmt)
        found[variant] = {
            "inventory": inv,
            "drops": {last: land(s3, glue, athena, inv, last, simulated_rows(last, fields))},
        }
    return found


@pytest.fixture(scope="session")
def summary_table(athena: Athena, s3: Any, test_config: DatalakeConfig) -> str:
    """The daily storage summary's table, made by the DAG's own DDL, in the reports bucket: its name."""
    s3.create_bucket(Bucket=test_config.reports.bucket)
    params = {"params": history.table_params(test_config)}
    for name in ("daily_storage_create_database", "daily_storage_create_table"):
        athena.run(render_query(name, params))
    return f"{test_config.reports.summary_database}.{test_config.reports.summary_table}"


def summarise(
    config: DatalakeConfig, day: str, run_id: str, s3: Any, glue: Any, athena: Athena
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A summaries run of ``day`` as the DAG makes it, without a scheduler: the plan, every summary query
    on the stack's Athena, then the publish task's work (``operators.publish``): (plan, document)."""
    from datalake.reports.operators import publish
    from datalake.reports.plan import plan_summaries
    from datalake.reports.tasks import query_groups

    plan = plan_summaries(config, s3, glue, day=day)
    outputs: dict[str, dict[str, Any]] = {}
    for source, queries in query_groups(config).items():
        values = plan["sources"][source]["values"]
        outputs[source] = {
            q.name: {"query_execution_id": athena.run(render_query(q, values))[1]["QueryExecutionId"]}
            if values
            else None
            for q in queries
        }
    document, _ = publish(plan, outputs, config, failures={}, run_id=run_id, athena_client=athena.client)
    return plan, document
