"""Keys and times in the summaries read as the objects are named and dated, whatever the report format.

CSV reports URL-encode the key (a space as '+', a '+' as '%2B') and write dates as ISO-8601 text;
Parquet and ORC hold the key as it is, with the date as epoch milliseconds (Parquet) or a timestamp (ORC).
Drops are written by the stack's generator, catalogued with the project's DDL and partition code, and
summarised with the project's SQL on the stack's Athena.
"""

from __future__ import annotations

import dataclasses
import gzip
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pyarrow as pa
import pytest

from datalake.config import get_config
from datalake.inventory import ddl, partitions
from datalake.inventory.manifest import schema_columns
from datalake.reports.queries import inventory_values, render_query
from datalake.reports.render import render_report, utc_timestamp
from devstack.inventory_drops import arrow_schema, write_config_drop

from .conftest import BUCKET, INVENTORY_DB

DAY = date(2026, 11, 20)
FIELDS = ("bucket", "key", "is_latest", "is_delete_marker", "size", "last_modified_date", "storage_class")
T0 = datetime(2026, 11, 1, tzinfo=UTC)

# (key, size, day of November it was last modified, storage class)
TRICKY = [
    ("photos/2024/a b.jpg", 10, 3, "STANDARD"),  # the oldest STANDARD object
    ("my docs/q+a 100%.txt", 20, 5, "STANDARD"),
    ("café menu/€uro ünïcode.pdf", 30, 9, "STANDARD"),  # the newest STANDARD object
    ("top level file+1.txt", 5, 7, "STANDARD"),
    ("deep/a+b/", 0, 8, "STANDARD"),  # a zero-byte folder object under a prefix with a '+'
    ("archive/%41 stays %41.bin", 40, 2, "GLACIER"),  # a literal '%41' (the only GLACIER object)
]


def _table(objects: list[tuple[str, int, int, str]]) -> pa.Table:
    rows = [
        {
            "bucket": "media-prod",
            "key": key,
            "is_latest": True,
            "is_delete_marker": False,
            "size": size,
            "last_modified_date": T0.replace(day=day),
            "storage_class": storage_class,
        }
        for key, size, day, storage_class in objects
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema(FIELDS))


def _catalogued(s3: Any, athena: Any, test_config: Any, fmt: str, objects: list[tuple[str, int, int, str]]):
    """One drop of ``objects`` in ``fmt``, with its table and partition: (configuration, drop)."""
    inv = dataclasses.replace(
        test_config.inventories[0],
        name=f"keys_{fmt.lower()}",
        destination_bucket=BUCKET,
        destination_prefix="encoded-keys",
        config_id=f"keys-{fmt.lower()}",
        database=INVENTORY_DB,
        table=f"keys_{fmt.lower()}",
        format=fmt,
        partition_projection=False,
    )
    drop = write_config_drop(s3, inv, DAY, fmt=fmt, files=1, table=_table(objects))
    columns = schema_columns(fmt, drop.manifest["fileSchema"])
    athena.run(f"CREATE DATABASE IF NOT EXISTS {INVENTORY_DB}")
    athena.run(ddl.render("create_table.sql", inv, drop={"columns": columns}))
    glue = boto3.client("glue", endpoint_url=athena.client.meta.endpoint_url, region_name="us-east-1")
    partitions.add_partition(glue, inv, drop.dt, columns)
    return inv, drop


def _summaries(athena: Any, inv: Any, dt: str) -> dict[str, list[dict[str, Any]]]:
    values = inventory_values(get_config(), inv, dt, None)
    names = ("inventory_storage_classes", "inventory_prefixes")
    return {name: athena.run(render_query(name, values))[0] for name in names}


@pytest.fixture(scope="module")
def drops(s3, athena, test_config) -> dict[str, Any]:
    return {fmt: _catalogued(s3, athena, test_config, fmt, TRICKY) for fmt in ("CSV", "Parquet", "ORC")}


@pytest.fixture(scope="module")
def csv_drop(drops):
    return drops["CSV"]


def test_the_csv_drop_holds_the_keys_url_encoded(s3, csv_drop):
    _, drop = csv_drop
    text = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=drop.data_keys[0])["Body"].read()).decode()
    assert '"photos/2024/a+b.jpg"' in text
    assert '"my+docs/q%2Ba+100%25.txt"' in text
    assert '"caf%C3%A9+menu/%E2%82%ACuro+%C3%BCn%C3%AFcode.pdf"' in text
    assert '"archive/%2541+stays+%2541.bin"' in text


@pytest.mark.parametrize("fmt", ["CSV", "Parquet", "ORC"])
def test_prefixes_and_oldest_newest_keys_read_as_the_objects_are_named(fmt, drops, athena):
    inv, drop = drops[fmt]
    results = _summaries(athena, inv, drop.dt)
    prefixes = {r["prefix"]: (r["objects"], r["bytes"]) for r in results["inventory_prefixes"]}
    assert prefixes == {
        "photos/": (1, 10),
        "my docs/": (1, 20),
        "café menu/": (1, 30),
        "(top level)": (1, 5),
        "deep/": (1, 0),
        "archive/": (1, 40),
    }
    classes = {r["storage_class"]: r for r in results["inventory_storage_classes"]}
    assert classes["STANDARD"]["oldest_key"] == "photos/2024/a b.jpg"
    assert classes["STANDARD"]["newest_key"] == "café menu/€uro ünïcode.pdf"
    assert classes["STANDARD"]["folder_objects"] == 1
    assert utc_timestamp(classes["STANDARD"]["oldest_modified"]) == "2026-11-03 00:00:00 UTC"
    assert utc_timestamp(classes["STANDARD"]["newest_modified"]) == "2026-11-09 00:00:00 UTC"
    assert classes["GLACIER"]["oldest_key"] == "archive/%41 stays %41.bin"  # a literal '%41' survives
    assert classes["GLACIER"]["newest_key"] == "archive/%41 stays %41.bin"


def test_the_report_of_a_csv_inventory_shows_the_decoded_keys(csv_drop, athena):
    inv, drop = csv_drop
    document = {
        "day": DAY.isoformat(),
        "generated_at": "2026-11-20 06:00 UTC",
        "sources": {
            "inventory_keys_csv": {
                "kind": "inventory",
                "title": "Storage: s3://media-prod (keys_csv)",
                "values": inventory_values(get_config(), inv, drop.dt, None),
                "results": _summaries(athena, inv, drop.dt),
            }
        },
    }
    page = render_report(document).replace("<wbr>", "")  # the wrap points the page puts in keys
    assert "café menu/€uro ünïcode.pdf" in page
    assert "photos/2024/a b.jpg" in page
    assert "<td>my docs/</td>" in page
    assert "%2F" not in page
    assert "%C3" not in page
    assert "+b.jpg" not in page
