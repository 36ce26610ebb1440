"""A bad drop is refused with its own message, naming the object at fault and the mismatch."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pytest

from datalake.inventory.layout import DropRef
from datalake.inventory.validate import (
    ChecksumMismatch,
    MissingDataFile,
    MissingSymlink,
    SchemaDrift,
    SizeMismatch,
    SymlinkMismatch,
    validate_drop,
)
from devstack.inventory_drops import DEFAULT_FIELDS, write_config_drop

DAY = date(2026, 11, 2)


def _write(s3: Any, inv: Any, **kwargs: Any) -> Any:
    return write_config_drop(
        s3, inv, kwargs.pop("day", DAY), fmt=kwargs.pop("fmt", inv.format), n=kwargs.pop("n", 50), **kwargs
    )


def _ref(inv: Any, drop: Any) -> DropRef:
    return DropRef(inv.destination_bucket, inv.base_prefix, drop.manifest_key.rsplit("/", 2)[-2])


def _rewrite_manifest(s3: Any, drop: Any, change: Any) -> None:
    doc = json.loads(s3.get_object(Bucket=drop.destination_bucket, Key=drop.manifest_key)["Body"].read())
    change(doc)
    raw = json.dumps(doc).encode()
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.manifest_key, Body=raw)
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.checksum_key, Body=digest.encode())


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

    _rewrite_manifest(s3, drop, swap)
    table = [("bucket", "string"), ("key", "string")]
    with pytest.raises(SchemaDrift, match="reads them by position"):
        validate_drop(s3, csv, _ref(csv, drop), table)
