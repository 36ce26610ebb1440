"""Inventory drops land in the local S3 exactly as Amazon S3 Inventory writes them."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote_plus

import boto3
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from datalake.inventory.manifest import KNOWN_FIELDS, schema_columns
from devstack.inventory_drops import DEFAULT_FIELDS, Drop, generate_objects, main, planted_anomaly, write_drop

DAY = date(2026, 11, 20)
SOURCE = "media-prod"
CONFIG = "daily-all"
PREFIX = "inventory"
N = 300


@pytest.fixture
def s3(local_aws: str):
    return boto3.client("s3", endpoint_url=local_aws)


@pytest.fixture
def bucket(s3) -> str:
    name = f"inventory-dest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def drop_of(s3, bucket: str, **overrides) -> Drop:
    args = {
        "destination_bucket": bucket,
        "destination_prefix": PREFIX,
        "source_bucket": SOURCE,
        "config_id": CONFIG,
        "day": DAY,
        "n": N,
    }
    return write_drop(s3, **{**args, **overrides})


def body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def all_keys(s3, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_a_drop_has_the_documented_layout_and_nothing_else(s3, bucket):
    drop = drop_of(s3, bucket, files=3)
    base = f"{PREFIX}/{SOURCE}/{CONFIG}"
    assert drop.base_prefix == base
    assert drop.dt == "2026-11-20-01-00"
    assert drop.manifest_key == f"{base}/2026-11-20T01-00Z/manifest.json"
    assert drop.checksum_key == f"{base}/2026-11-20T01-00Z/manifest.checksum"
    assert drop.symlink_key == f"{base}/hive/dt=2026-11-20-01-00/symlink.txt"
    assert len(drop.data_keys) == 3
    for key in drop.data_keys:
        assert re.fullmatch(
            rf"{base}/data/[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}\.parquet",
            key,
        )
    assert all_keys(s3, bucket) == {drop.manifest_key, drop.checksum_key, drop.symlink_key, *drop.data_keys}


def test_the_manifest_describes_the_drop(s3, bucket):
    drop = drop_of(s3, bucket)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    assert manifest["sourceBucket"] == SOURCE
    assert manifest["destinationBucket"] == f"arn:aws:s3:::{bucket}"
    assert manifest["version"] == "2016-11-30"
    assert manifest["creationTimestamp"] == str(int(datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1000))
    assert manifest["fileFormat"] == "Parquet"
    assert [f["key"] for f in manifest["files"]] == drop.data_keys


def test_the_checksum_is_the_md5_of_manifest_json(s3, bucket):
    drop = drop_of(s3, bucket)
    checksum = body(s3, bucket, drop.checksum_key).decode().strip()
    assert checksum == hashlib.md5(body(s3, bucket, drop.manifest_key), usedforsecurity=False).hexdigest()


def test_manifest_sizes_and_md5s_match_the_data_files(s3, bucket):
    drop = drop_of(s3, bucket)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    for entry in manifest["files"]:
        data = body(s3, bucket, entry["key"])
        assert entry["size"] == len(data)
        assert entry["MD5checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_the_symlink_lists_exactly_the_data_files(s3, bucket):
    drop = drop_of(s3, bucket, files=2)
    lines = body(s3, bucket, drop.symlink_key).decode().splitlines()
    assert lines == [f"s3://{bucket}/{key}" for key in drop.data_keys]


def test_the_parquet_file_schema_is_true_to_the_data_files(s3, bucket):
    drop = drop_of(s3, bucket)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    declared = re.findall(r"(required|optional) (\w+) (\w+)(?: \((\w+)\))?;", manifest["fileSchema"])
    assert manifest["fileSchema"].startswith("message s3.inventory {")
    assert [name for *_, name, _ann in declared] == list(DEFAULT_FIELDS)
    rows = 0
    for key in drop.data_keys:
        parquet = pq.ParquetFile(io.BytesIO(body(s3, bucket, key)))
        actual = [
            (
                "required" if col.max_definition_level == 0 else "optional",
                {"BYTE_ARRAY": "binary"}.get(col.physical_type, col.physical_type.lower()),
                col.name,
                "" if col.converted_type == "NONE" else col.converted_type,
            )
            for col in parquet.schema
        ]
        assert actual == [tuple(d) for d in declared]
        rows += parquet.metadata.num_rows
    assert rows == drop.table.num_rows
    assert ("optional", "int64", "last_modified_date", "TIMESTAMP_MILLIS") in declared
    assert ("required", "binary", "key", "UTF8") in declared


def test_the_pipelines_manifest_reader_understands_the_file_schema(s3, bucket):
    drop = drop_of(s3, bucket)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    columns = schema_columns("Parquet", manifest["fileSchema"])
    assert columns == [(name, KNOWN_FIELDS[name]) for name in DEFAULT_FIELDS]


def test_last_modified_dates_are_epoch_milliseconds_before_the_drop(s3, bucket):
    drop = drop_of(s3, bucket, files=1)
    table = pq.read_table(io.BytesIO(body(s3, bucket, drop.data_keys[0])))
    epoch_ms = table.column("last_modified_date").cast("int64").to_pylist()
    drop_time_ms = datetime(2026, 11, 20, 1, tzinfo=UTC).timestamp() * 1000
    assert all(datetime(2019, 1, 1, tzinfo=UTC).timestamp() * 1000 < ms < drop_time_ms for ms in epoch_ms)


def test_the_objects_look_like_a_real_versioned_bucket():
    rows = generate_objects(DAY, n=2000).to_pylist()
    classes = {r["storage_class"] for r in rows}
    assert {"STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING"} <= classes
    assert len({r["key"].split("/", 1)[0] for r in rows}) >= 5
    folders = [r for r in rows if r["key"].endswith("/")]
    assert folders
    assert all(r["size"] == 0 for r in folders if not r["is_delete_marker"])
    markers = [r for r in rows if r["is_delete_marker"]]
    assert markers
    assert all(r["is_latest"] and r["size"] is None for r in markers)
    assert any(not r["is_latest"] and not r["is_delete_marker"] for r in rows)
    assert {"SSE-S3", "SSE-KMS", "NOT-SSE"} <= {r["encryption_status"] for r in rows}
    latest = [r["key"] for r in rows if r["is_latest"]]
    assert len(latest) == len(set(latest))  # one current version (or delete marker) per key


def test_a_sync_tool_leaves_delete_markers_with_no_versions_behind_them():
    rows = generate_objects(DAY, n=2000).to_pylist()
    keys: dict[str, list[dict]] = {}
    for r in rows:
        keys.setdefault(r["key"], []).append(r)
    lone = {k for k, versions in keys.items() if all(v["is_delete_marker"] for v in versions)}
    assert lone
    assert {k.split("/")[0] for k in lone} == {"tmp"}
    assert len(lone) < sum(r["is_delete_marker"] for r in rows)  # most markers have versions behind them


def test_prefixes_no_rule_covers_keep_old_objects_in_standard_and_old_non_current_versions():
    rows = generate_objects(DAY, n=2000).to_pylist()
    day_ms = datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1000
    old = [
        r
        for r in rows
        if r["key"].startswith(("legal/", "shared/")) and r["is_latest"] and not r["is_delete_marker"]
    ]
    assert old
    assert {r["storage_class"] for r in old} == {"STANDARD"}
    assert any(day_ms - r["last_modified_date"].timestamp() * 1000 > 365 * 86_400_000 for r in old)
    # a version became non-current when the next newer row of its key was written: older than the
    # lifecycle's 30 days only where no rule expires them
    keys: dict[str, list[dict]] = {}
    for r in rows:
        keys.setdefault(r["key"], []).append(r)
    kept = set()
    for versions in keys.values():
        versions.sort(key=lambda r: r["last_modified_date"], reverse=True)
        for newer, r in itertools.pairwise(versions):
            if day_ms - newer["last_modified_date"].timestamp() * 1000 >= 31 * 86_400_000:
                kept.add(r["key"].split("/")[0] + "/")
    assert kept == {"exports/", "shared/"}


def test_the_planted_anomaly_is_large_unencrypted_standard_and_new():
    planted = planted_anomaly(DAY).to_pylist()
    assert len(planted) == 120
    assert {(r["storage_class"], r["encryption_status"], r["is_latest"]) for r in planted} == {
        ("STANDARD", "NOT-SSE", True)
    }
    ordinary = generate_objects(DAY, n=2000).to_pylist()
    stored = sum(r["size"] for r in ordinary if r["is_latest"] and not r["is_delete_marker"])
    assert sum(r["size"] for r in planted) > 0.2 * stored  # more than the report's default share
    assert not {r["key"] for r in planted} & {r["key"] for r in ordinary}
    drop_ms = datetime(2026, 11, 20, 1, tzinfo=UTC).timestamp() * 1000
    assert all(drop_ms - 86_400_000 < r["last_modified_date"].timestamp() * 1000 < drop_ms for r in planted)
    assert planted_anomaly(DAY).equals(planted_anomaly(DAY))


def test_a_current_versions_report_has_no_version_rows():
    fields = ("bucket", "key", "size", "last_modified_date", "storage_class")
    table = generate_objects(DAY, n=N, fields=fields)
    assert table.schema.names == list(fields)
    keys = table.column("key").to_pylist()
    assert len(keys) == len(set(keys))
    assert None not in table.column("size").to_pylist()


def test_a_csv_drop_is_gzip_without_header_with_every_value_quoted(s3, bucket):
    drop = drop_of(s3, bucket, fmt="CSV", files=1)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    assert manifest["fileFormat"] == "CSV"
    assert manifest["fileSchema"].startswith("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size,")
    assert drop.data_keys[0].endswith(".csv.gz")
    text = gzip.decompress(body(s3, bucket, drop.data_keys[0])).decode()
    lines = text.splitlines()
    assert len(lines) == drop.table.num_rows
    assert all(re.fullmatch(r'"[^"]*"(,"[^"]*")*', line) for line in lines)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == SOURCE  # data from the first line on: no header
    assert all(len(row) == len(DEFAULT_FIELDS) for row in rows)
    assert not any(" " in row[1] for row in rows)  # keys are URL-encoded, a space as '+'
    assert any("+" in row[1] for row in rows)
    assert {unquote_plus(row[1]) for row in rows} == set(drop.table.column("key").to_pylist())
    assert [c for c, _ in schema_columns("CSV", manifest["fileSchema"])] == list(DEFAULT_FIELDS)


def test_an_orc_drop_declares_its_struct_schema(s3, bucket):
    drop = drop_of(s3, bucket, fmt="ORC", files=1)
    manifest = json.loads(body(s3, bucket, drop.manifest_key))
    assert manifest["fileFormat"] == "ORC"
    assert manifest["fileSchema"].startswith(
        "struct<bucket:string,key:string,version_id:string,is_latest:boolean"
    )
    data = orc.ORCFile(io.BytesIO(body(s3, bucket, drop.data_keys[0])))
    assert data.schema.names == list(DEFAULT_FIELDS)
    assert data.nrows == drop.table.num_rows


def test_the_same_inputs_write_the_same_objects(s3, bucket):
    first = drop_of(s3, bucket)
    etags = {key: s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in all_keys(s3, bucket)}
    second = drop_of(s3, bucket)
    assert second.data_keys == first.data_keys
    assert {key: s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in all_keys(s3, bucket)} == etags
    assert generate_objects(DAY, n=N, seed=3).equals(generate_objects(DAY, n=N, seed=3))
    assert not generate_objects(DAY, n=N, seed=3).equals(generate_objects(DAY, n=N, seed=4))


def test_consecutive_days_add_delete_and_overwrite_objects():
    before = generate_objects(DAY, n=2000).to_pylist()
    after = generate_objects(DAY + timedelta(days=1), n=2000).to_pylist()

    def current(rows):
        return {r["key"]: r for r in rows if r["is_latest"] and not r["is_delete_marker"]}

    old, new = current(before), current(after)
    created = new.keys() - old.keys() - {r["key"] for r in before}
    deleted = {r["key"] for r in after if r["is_delete_marker"]} & old.keys()
    overwritten = {k for k in old.keys() & new.keys() if old[k]["version_id"] != new[k]["version_id"]}
    assert created
    assert deleted
    assert overwritten
    for key in overwritten:  # the old version is still listed, now non-current
        assert any(
            r["key"] == key and r["version_id"] == old[key]["version_id"] and not r["is_latest"]
            for r in after
        )
    unchanged = old.keys() & new.keys() - overwritten
    assert all(old[k]["last_modified_date"] == new[k]["last_modified_date"] for k in unchanged)
    assert len(unchanged) > len(created) + len(deleted) + len(overwritten)


def test_bad_inputs_are_refused_naming_what_is_wrong(s3, bucket):
    with pytest.raises(ValueError, match="colour"):
        generate_objects(DAY, fields=("bucket", "key", "colour"))
    with pytest.raises(ValueError, match="bucket and key"):
        generate_objects(DAY, fields=("size",))
    with pytest.raises(ValueError, match="XLS"):
        drop_of(s3, bucket, fmt="XLS")
    with pytest.raises(ValueError, match="hour_minute"):
        drop_of(s3, bucket, hour_minute="1am")
    assert all_keys(s3, bucket) == set()


def test_the_cli_writes_one_drop_per_day(s3, bucket, local_aws, capsys):
    code = main(
        ["--endpoint-url", local_aws, "--bucket", bucket, "--prefix", PREFIX, "--source-bucket", SOURCE,
         "--config-id", CONFIG, "--from-date", "2026-11-20", "--to-date", "2026-11-22", "-n", "100"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    checksums = sorted(k for k in all_keys(s3, bucket) if k.endswith("manifest.checksum"))
    assert checksums == [
        f"{PREFIX}/{SOURCE}/{CONFIG}/2026-11-{d}T01-00Z/manifest.checksum" for d in (20, 21, 22)
    ]
