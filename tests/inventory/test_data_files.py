"""Every data file of a drop is read far enough to prove it is what its manifest says: the footer of a
Parquet or ORC file (a ranged GET at its end), the gzip header and first line of a CSV file. The drops
are devstack's, in Amazon's layout; the corrupt files are written here, with manifests (and checksums)
that agree with them, so only the files' content can give them away."""

from __future__ import annotations

import gzip
import os
import re
import struct
from dataclasses import replace
from datetime import date
from typing import Any

import boto3
import pyarrow as pa
import pytest

from datalake.inventory.layout import DropRef
from datalake.inventory.validate import PROBE_LIMIT, DropValidationError, validate_drop
from devstack.inventory_drops import DEFAULT_FIELDS, serialise, write_config_drop

from .conftest import replace_data_file

DAY = date(2026, 11, 2)


def _drop(s3: Any, inv: Any, fmt: str, **kwargs: Any) -> tuple[Any, Any]:
    """A configuration of format ``fmt`` and a drop of it; the drop's files hold 40 rows between them."""
    config = replace(inv, format=fmt)
    return config, write_config_drop(s3, config, DAY, fmt=fmt, n=kwargs.pop("n", 40), **kwargs)


def _ref(inv: Any, drop: Any) -> DropRef:
    return DropRef(inv.destination_bucket, inv.base_prefix, drop.manifest_key.rsplit("/", 2)[-2])


def _refused(s3: Any, inv: Any, drop: Any, message: str) -> None:
    with pytest.raises(DropValidationError, match=message):
        validate_drop(s3, inv, _ref(inv, drop))


def _file(drop: Any, key: str) -> str:
    return re.escape(f"drop {drop.folder.rsplit('/', 1)[-1]}: data file {drop.uri(key)}")


@pytest.mark.parametrize("fmt", ["Parquet", "ORC", "CSV"])
def test_a_drop_of_each_format_passes_with_its_real_data_files(s3: Any, inv: Any, fmt: str) -> None:
    config, drop = _drop(s3, inv, fmt)
    assert len(validate_drop(s3, config, _ref(config, drop)).manifest.files) == len(drop.data_keys)


# --- Parquet ------------------------------------------------------------------------------------------


def test_a_parquet_drop_whose_data_file_is_not_parquet_is_refused(s3: Any, inv: Any) -> None:
    """What a new user met: such a drop was registered, and every query over its partition failed."""
    config, drop = _drop(s3, inv, "Parquet")
    key = replace_data_file(s3, drop, 1, serialise(drop.table, "CSV"))  # the same rows, as gzip'd CSV
    _refused(
        s3, config, drop, _file(drop, key) + " is not a Parquet file: Parquet magic bytes not found in footer"
    )


def test_a_parquet_file_of_other_columns_than_its_manifest_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "Parquet")
    fewer = drop.table.drop_columns(["e_tag"])
    key = replace_data_file(s3, drop, 0, serialise(fewer, "Parquet"))
    at = DEFAULT_FIELDS.index("e_tag")
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + " is not what manifest.json says: "
        f"its column {at + 1} is {DEFAULT_FIELDS[at + 1]} string, the fileSchema's is e_tag string",
    )


def test_a_parquet_file_whose_column_changed_type_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "Parquet")
    at = drop.table.schema.get_field_index("size")
    as_text = drop.table.set_column(at, "size", drop.table.column("size").cast(pa.string()))
    key = replace_data_file(s3, drop, 0, serialise(as_text, "Parquet"))
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + f".*its column {at + 1} is size string, the fileSchema's is size bigint",
    )


def test_a_footer_larger_than_the_probe_limit_is_refused_without_reading_it(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "Parquet")
    claimed = 2 * PROBE_LIMIT  # the footer's length, as the file's last 8 bytes state it
    body = b"PAR1" + os.urandom(claimed + 1024) + struct.pack("<I", claimed) + b"PAR1"
    key = replace_data_file(s3, drop, 0, body)
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + f" is not a Parquet file: reading it needs more than {PROBE_LIMIT}",
    )


# --- ORC ----------------------------------------------------------------------------------------------


def test_an_orc_drop_whose_data_file_is_parquet_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "ORC")
    key = replace_data_file(s3, drop, 0, serialise(drop.table, "Parquet"))
    _refused(s3, config, drop, _file(drop, key) + " is not an ORC file: Not an ORC file")


def test_an_orc_file_missing_a_column_of_its_manifest_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "ORC")
    fewer = drop.table.drop_columns([DEFAULT_FIELDS[-1]])
    key = replace_data_file(s3, drop, 1, serialise(fewer, "ORC"))
    n = len(DEFAULT_FIELDS)
    _refused(s3, config, drop, _file(drop, key) + f".*it holds {n - 1} columns, the fileSchema lists {n}")


# --- CSV ----------------------------------------------------------------------------------------------


def test_a_csv_drop_whose_data_file_is_not_gzip_compressed_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "CSV")
    key = replace_data_file(s3, drop, 0, gzip.decompress(serialise(drop.table, "CSV")))
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + " is not a gzip-compressed CSV file: it does not start with a gzip header",
    )


def test_a_csv_data_file_whose_gzip_stream_is_broken_is_refused(s3: Any, inv: Any) -> None:
    config, drop = _drop(s3, inv, "CSV")
    good = serialise(drop.table, "CSV")
    key = replace_data_file(s3, drop, 0, good[:10] + bytes(b ^ 0x5A for b in good[10:200]) + good[200:])
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + " is not a gzip-compressed CSV file: Error -3 while decompressing",
    )


def test_a_csv_data_file_whose_lines_have_other_fields_than_its_manifest_is_refused(
    s3: Any, inv: Any
) -> None:
    config, drop = _drop(s3, inv, "CSV")
    fewer = drop.table.drop_columns(["storage_class"])
    key = replace_data_file(s3, drop, 1, serialise(fewer, "CSV"))
    n = len(DEFAULT_FIELDS)
    _refused(
        s3,
        config,
        drop,
        _file(drop, key) + f": its first line holds {n - 1} fields, manifest.json's fileSchema lists {n}",
    )


# --- what the check costs -----------------------------------------------------------------------------


class _Requests:
    """Every S3 request a client sends, with its key, range and the bytes it returned."""

    def __init__(self, client: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        client.meta.events.register("before-parameter-build.s3", self._before)
        client.meta.events.register("after-call.s3", self._after)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(
            {"op": model.name, "key": params.get("Key"), "range": params.get("Range"), "bytes": 0}
        )

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetObject":
            self.calls[-1]["bytes"] = parsed.get("ContentLength", 0)

    def of(self, key: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["key"] == key]


def _table_of(size: int) -> pa.Table:
    """Random keys whose Parquet file is about ``size`` bytes (random text barely compresses)."""
    rows = size // 98
    text = os.urandom(rows * 48).hex().encode()
    offsets = pa.array(range(0, len(text) + 1, 96), pa.int32()).buffers()[1]
    keys = pa.StringArray.from_buffers(rows, offsets, pa.py_buffer(text))
    return pa.table({"bucket": pa.array(["media-prod"] * rows), "key": keys, "size": pa.array(range(rows))})


def test_checking_a_data_file_reads_the_same_few_bytes_whatever_its_size(aws: str, s3: Any, inv: Any) -> None:
    counted = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    requests = _Requests(counted)
    sizes, probes = {}, {}
    for label, size in (("1 MB", 1_000_000), ("100 MB", 100_000_000)):
        config = replace(inv, name=f"{inv.name}_{label[:-3]}", config_id=f"{inv.config_id}-{label[:-3]}")
        drop = write_config_drop(s3, config, DAY, fmt="Parquet", table=_table_of(size), files=1)
        validate_drop(counted, config, _ref(config, drop))
        (key,) = drop.data_keys
        sizes[label] = s3.head_object(Bucket=drop.destination_bucket, Key=key)["ContentLength"]
        calls = requests.of(key)
        probes[label] = (
            [c["op"] for c in calls],
            sum(c["bytes"] for c in calls),
        )
    print(f"\nbytes and requests per data file: {sizes} -> {probes}")
    assert sizes["1 MB"] >= 1_000_000
    assert sizes["100 MB"] >= 100_000_000
    assert probes["100 MB"] == probes["1 MB"]  # the same requests and bytes, whatever the size
    operations, read = probes["100 MB"]
    assert operations == ["HeadObject", "GetObject"]
    assert read <= 64 * 1024
