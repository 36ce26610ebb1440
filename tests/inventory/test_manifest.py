"""Reading manifests: fileSchema of each report format becomes the same table columns."""

from __future__ import annotations

import json

import pytest

from datalake.inventory.layout import DropRef, folder_of
from datalake.inventory.manifest import ManifestError, parse_manifest, schema_columns

PARQUET_SCHEMA = (
    "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
    "optional binary version_id (STRING); optional boolean is_latest; optional int64 size; "
    "optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING);}"
)
EXPECTED = [
    ("bucket", "string"),
    ("key", "string"),
    ("version_id", "string"),
    ("is_latest", "boolean"),
    ("size", "bigint"),
    ("last_modified_date", "bigint"),
    ("e_tag", "string"),
]


def test_parquet_file_schema_gives_athena_columns_with_epoch_ms_timestamps() -> None:
    assert schema_columns("Parquet", PARQUET_SCHEMA) == EXPECTED


def test_csv_field_names_in_either_spelling_give_the_same_columns() -> None:
    camel = "Bucket, Key, VersionId, IsLatest, Size, LastModifiedDate, ETag"
    snake = "bucket,key,version_id,is_latest,size,last_modified_date,e_tag"
    as_csv = [(n, "string" if n == "last_modified_date" else t) for n, t in EXPECTED]  # ISO-8601 text
    assert schema_columns("CSV", camel) == as_csv
    assert schema_columns("CSV", snake) == as_csv


def test_orc_struct_schema_gives_columns() -> None:
    cols = schema_columns("ORC", "struct<bucket:string,key:string,size:bigint,is_latest:boolean>")
    assert cols == [("bucket", "string"), ("key", "string"), ("size", "bigint"), ("is_latest", "boolean")]


def test_a_field_name_unusable_as_a_column_is_refused_with_its_name() -> None:
    with pytest.raises(ManifestError, match="bad-name"):
        schema_columns("CSV", "bucket, bad-name")


def test_a_manifest_without_files_names_the_manifest() -> None:
    raw = json.dumps(
        {
            "sourceBucket": "media-prod",
            "destinationBucket": "arn:aws:s3:::dest",
            "fileFormat": "Parquet",
            "fileSchema": PARQUET_SCHEMA,
            "files": [],
        }
    ).encode()
    with pytest.raises(ManifestError, match=r"s3://dest/m\.json lists no data files"):
        parse_manifest(raw, "s3://dest/m.json")


def test_manifest_destination_arn_is_read_as_a_bucket_name() -> None:
    raw = json.dumps(
        {
            "sourceBucket": "media-prod",
            "destinationBucket": "arn:aws:s3:::dest",
            "creationTimestamp": "1620147401000",
            "fileFormat": "Parquet",
            "fileSchema": PARQUET_SCHEMA,
            "files": [{"key": "p/data/a.parquet", "size": 10, "MD5checksum": "0" * 32}],
        }
    ).encode()
    manifest = parse_manifest(raw, "m")
    assert manifest.destination_bucket == "dest"
    assert manifest.creation_timestamp == 1620147401000
    assert manifest.columns == tuple(EXPECTED)


def test_a_drop_folder_maps_to_its_hive_partition_and_back() -> None:
    drop = DropRef("dest", "inventory/media-prod/daily", "2026-11-02T01-00Z")
    assert drop.dt == "2026-11-02-01-00"
    assert drop.symlink_key == "inventory/media-prod/daily/hive/dt=2026-11-02-01-00/symlink.txt"
    assert drop.partition_location == "s3://dest/inventory/media-prod/daily/hive/dt=2026-11-02-01-00/"
    assert folder_of(drop.dt) == drop.folder
