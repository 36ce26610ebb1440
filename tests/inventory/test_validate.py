"""A bad drop is refused with its own message, naming the object at fault and the mismatch."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from datalake.inventory.layout import DropRef
from datalake.inventory.validate import (
    CHECKSUM_LIMIT,
    MANIFEST_LIMIT,
    ChecksumMismatch,
    DropValidationError,
    MissingDataFile,
    MissingSymlink,
    SchemaDrift,
    SizeMismatch,
    SymlinkMismatch,
    validate_drop,
)
from devstack.inventory_drops import DEFAULT_FIELDS, write_config_drop

from .conftest import rewrite_manifest

DAY = date(2026, 11, 2)


def _write(s3: Any, inv: Any, **kwargs: Any) -> Any:
    return write_config_drop(
        s3, inv, kwargs.pop("day", DAY), fmt=kwargs.pop("fmt", inv.format), n=kwargs.pop("n", 50), **kwargs
    )


def _ref(inv: Any, drop: Any) -> DropRef:
    return DropRef(inv.destination_bucket, inv.base_prefix, drop.manifest_key.rsplit("/", 2)[-2])


def test_a_complete_drop_passes_with_the_columns_of_its_file_schema(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    valid = validate_drop(s3, inv, _ref(inv, drop))
    assert valid.drop.dt == drop.dt
    assert [c[0] for c in valid.manifest.columns][:2] == ["bucket", "key"]
    assert len(valid.manifest.files) == len(drop.data_keys)


def test_checksum_mismatch_names_the_checksum_and_the_manifest(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.checksum_key, Body=b"0" * 32)
    with pytest.raises(
        ChecksumMismatch, match=r"manifest\.checksum says 0{32} but the MD5 of s3://\S+manifest\.json"
    ):
        validate_drop(s3, inv, _ref(inv, drop))


def test_missing_data_file_names_the_file(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    s3.delete_object(Bucket=drop.destination_bucket, Key=drop.data_keys[1])
    with pytest.raises(
        MissingDataFile, match=rf"data file s3://\S+{drop.data_keys[1]} listed in manifest.json is missing"
    ):
        validate_drop(s3, inv, _ref(inv, drop))


def test_data_file_of_the_wrong_size_names_both_sizes(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    key = drop.data_keys[0]
    body = s3.get_object(Bucket=drop.destination_bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=drop.destination_bucket, Key=key, Body=body[:-7])
    with pytest.raises(
        SizeMismatch, match=rf"{key} has {len(body) - 7} bytes, manifest.json lists {len(body)}"
    ):
        validate_drop(s3, inv, _ref(inv, drop))


def test_missing_symlink_file_is_named(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    s3.delete_object(Bucket=drop.destination_bucket, Key=drop.symlink_key)
    with pytest.raises(MissingSymlink, match=rf"symlink file s3://\S+{drop.symlink_key} is missing"):
        validate_drop(s3, inv, _ref(inv, drop))


def test_symlink_listing_other_files_than_the_manifest_is_refused(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    lines = [f"s3://{drop.destination_bucket}/{k}" for k in drop.data_keys[:-1]] + [
        "s3://elsewhere/x.parquet"
    ]
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.symlink_key, Body="\n".join(lines).encode())
    with pytest.raises(SymlinkMismatch, match=r"lacks 1 file\(s\) of the manifest.*lists 1 file\(s\) not in"):
        validate_drop(s3, inv, _ref(inv, drop))


def test_a_column_whose_type_changed_is_schema_drift(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    table = [("bucket", "string"), ("key", "string"), ("size", "string")]
    with pytest.raises(SchemaDrift, match=r"declares column 'size' as bigint, the table has it as string"):
        validate_drop(s3, inv, _ref(inv, drop), table)


def test_fields_a_configuration_gained_are_new_columns_not_drift(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    valid = validate_drop(s3, inv, _ref(inv, drop), [("bucket", "string"), ("key", "string")])
    assert [c[0] for c in valid.new_columns] == [f for f in DEFAULT_FIELDS if f not in ("bucket", "key")]


def test_a_csv_drop_reordering_its_fields_is_drift(s3: Any, inv: Any) -> None:
    from dataclasses import replace

    csv = replace(inv, format="CSV")
    drop = _write(s3, csv, fmt="CSV")

    def swap(doc: dict[str, Any]) -> None:
        names = [f.strip() for f in doc["fileSchema"].split(",")]
        names[0], names[1] = names[1], names[0]
        doc["fileSchema"] = ", ".join(names)

    rewrite_manifest(s3, drop, swap)
    table = [("bucket", "string"), ("key", "string")]
    with pytest.raises(SchemaDrift, match="reads them by position"):
        validate_drop(s3, csv, _ref(csv, drop), table)


# --- a manifest whose checksum is right but whose content is not --------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda doc: doc.update(files=5),
            "<where>: files must be a list of {key, size, MD5checksum}, got the number 5",
        ),
        (lambda doc: doc.update(files=[]), "<where> lists no data files"),
        (
            lambda doc: doc["files"].append("data/x.parquet"),
            "<where>: files[2] must be an object {key, size, MD5checksum}, got 'data/x.parquet'",
        ),
        (
            lambda doc: doc["files"][0].update(key=5),
            "<where>: files[0].key must be a non-empty string, got the number 5",
        ),
        (
            lambda doc: doc["files"][1].update(key=doc["files"][0]["key"]),
            "<where>: files[1].key '<key0>' is files[0]'s key too",
        ),
        (
            lambda doc: doc["files"][1].update(size=-1),
            "<where>: files[1].size must be a whole number of bytes, 0 or more, got the number -1",
        ),
        (
            lambda doc: doc["files"][0].update(size="1024"),
            "<where>: files[0].size must be a whole number of bytes, 0 or more, got '1024'",
        ),
        (
            lambda doc: doc["files"][0].update(size=True),
            "<where>: files[0].size must be a whole number of bytes, 0 or more, got true/false",
        ),
        (
            lambda doc: doc["files"][0].update(MD5checksum=None),
            "<where>: files[0].MD5checksum must be 32 hex digits, got null",
        ),
        (
            lambda doc: doc.update(fileSchema=["bucket", "key"]),
            "<where>: fileSchema must be a non-empty string, got a list",
        ),
        (lambda doc: doc.update(fileFormat=["Parquet"]), "<where>: unknown fileFormat a list"),
        (
            lambda doc: doc.update(sourceBucket={"name": "media-prod"}),
            "<where>: sourceBucket must name a bucket, got an object",
        ),
        (
            lambda doc: doc.update(destinationBucket=""),
            "<where>: destinationBucket must name a bucket, got ''",
        ),
        (
            lambda doc: doc.update(destinationBucket="arn:aws:s3:::"),
            "<where>: destinationBucket must name a bucket, got 'arn:aws:s3:::'",
        ),
        (
            lambda doc: doc.update(creationTimestamp="yesterday"),
            "<where>: creationTimestamp must be epoch milliseconds, got 'yesterday'",
        ),
    ],
)
def test_a_manifest_with_the_right_checksum_but_wrong_types_is_refused_naming_it(
    s3: Any, inv: Any, change: Any, problem: str
) -> None:
    drop = _write(s3, inv)
    rewrite_manifest(s3, drop, change)
    expected = problem.replace("<where>", drop.uri(drop.manifest_key)).replace("<key0>", drop.data_keys[0])
    with pytest.raises(DropValidationError, match=f"^{re.escape(expected)}$"):
        validate_drop(s3, inv, _ref(inv, drop))


def test_a_manifest_of_another_source_bucket_is_refused(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    rewrite_manifest(s3, drop, lambda doc: doc.update(sourceBucket="other-bucket"))
    with pytest.raises(
        DropValidationError,
        match=rf"manifest\.json is an inventory of bucket 'other-bucket'; inventory '{inv.name}' is "
        rf"configured for source_bucket '{inv.source_bucket}'",
    ):
        validate_drop(s3, inv, _ref(inv, drop))


def test_a_manifest_naming_another_destination_bucket_is_refused(s3: Any, inv: Any) -> None:
    drop = _write(s3, inv)
    rewrite_manifest(s3, drop, lambda doc: doc.update(destinationBucket="arn:aws:s3:::elsewhere"))
    with pytest.raises(
        DropValidationError, match=rf"names destination bucket 'elsewhere', not '{inv.destination_bucket}'"
    ):
        validate_drop(s3, inv, _ref(inv, drop))


@pytest.mark.parametrize(
    ("name", "limit"), [("manifest", MANIFEST_LIMIT), ("manifest checksum", CHECKSUM_LIMIT)]
)
def test_a_manifest_or_checksum_larger_than_its_cap_is_refused_unread(
    s3: Any, inv: Any, name: str, limit: int
) -> None:
    drop = _write(s3, inv)
    if name == "manifest":
        body = rewrite_manifest(s3, drop, lambda doc: doc.update(padding=" " * limit))
        key = drop.manifest_key
    else:
        digest = s3.get_object(Bucket=drop.destination_bucket, Key=drop.checksum_key)["Body"].read()
        body = digest.strip() + b" " * limit
        key = drop.checksum_key
        s3.put_object(Bucket=drop.destination_bucket, Key=key, Body=body)
    with pytest.raises(
        DropValidationError,
        match=rf"{name} {re.escape(drop.uri(key))} has {len(body)} bytes, more than a {name} can have "
        rf"\({limit}\)",
    ):
        validate_drop(s3, inv, _ref(inv, drop))
