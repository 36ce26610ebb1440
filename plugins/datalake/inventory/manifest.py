"""What an inventory drop's ``manifest.json`` says: its files, its format and its columns.

Where the manifest and the drop's other objects are is :mod:`datalake.inventory.layout`'s business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_EPOCH_MS = re.compile(r"[0-9]{1,15}")

# The fields an inventory report can hold, in the order Amazon S3 writes them, with the Athena type
# the table declares. CSV manifests list only names, so their types come from here. Timestamps are
# epoch milliseconds (``bigint``), as Parquet reports store them.
KNOWN_FIELDS: dict[str, str] = {
    "bucket": "string",
    "key": "string",
    "version_id": "string",
    "is_latest": "boolean",
    "is_delete_marker": "boolean",
    "size": "bigint",
    "last_modified_date": "bigint",
    "e_tag": "string",
    "storage_class": "string",
    "is_multipart_uploaded": "boolean",
    "replication_status": "string",
    "encryption_status": "string",
    "object_lock_retain_until_date": "bigint",
    "object_lock_mode": "string",
    "object_lock_legal_hold_status": "string",
    "intelligent_tiering_access_tier": "string",
    "bucket_key_status": "string",
    "checksum_algorithm": "string",
    "object_access_control_list": "string",
    "object_owner": "string",
}
# CSV reports write dates as ISO-8601 text (``2021-05-04T16:56:41.000Z``): those columns stay strings
# there (``from_iso8601_timestamp(last_modified_date)`` in queries); everything else is typed as above.
CSV_TYPES: dict[str, str] = {
    **KNOWN_FIELDS,
    "last_modified_date": "string",
    "object_lock_retain_until_date": "string",
}


class ManifestError(ValueError):
    """A manifest that cannot be read or does not describe a usable inventory drop."""


@dataclass(frozen=True)
class ManifestFile:
    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class Manifest:
    source_bucket: str
    destination_bucket: str
    version: str
    creation_timestamp: int
    file_format: str
    file_schema: str
    files: tuple[ManifestFile, ...]
    columns: tuple[tuple[str, str], ...]


def _kind(value: object) -> str:
    """A JSON value's type, as an error names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    return "a list" if isinstance(value, list) else "an object"


def _text(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc[key]
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: {key} must be a non-empty string, got {_kind(value)}")
    return value


def _bucket(doc: dict[str, Any], key: str, where: str) -> str:
    """The bucket named at ``key``: ``arn:aws:s3:::bucket`` or ``bucket`` -> ``bucket``; never empty."""
    value = doc[key]
    name = value.rsplit(":", 1)[-1] if isinstance(value, str) and value.startswith("arn:") else value
    if not isinstance(name, str) or not name.strip():
        raise ManifestError(f"{where}: {key} must name a bucket, got {_kind(value)}")
    return name


def _files(value: object, where: str) -> tuple[ManifestFile, ...]:
    """``files``: a non-empty list of ``{key, size, MD5checksum}``, each key once."""
    if not isinstance(value, list):
        raise ManifestError(
            f"{where}: files must be a list of {{key, size, MD5checksum}}, got {_kind(value)}"
        )
    if not value:
        raise ManifestError(f"{where} lists no data files")
    files: list[ManifestFile] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        at = f"{where}: files[{i}]"
        if not isinstance(item, dict):
            raise ManifestError(f"{at} must be an object {{key, size, MD5checksum}}, got {_kind(item)}")
        key, size, md5 = item.get("key"), item.get("size"), item.get("MD5checksum", "")
        if not isinstance(key, str) or not key:
            raise ManifestError(f"{at}.key must be a non-empty string, got {_kind(key)}")
        if key in seen:
            raise ManifestError(f"{at}.key {key!r} is files[{seen[key]}]'s key too")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"{at}.size must be a whole number of bytes, 0 or more, got {_kind(size)}")
        if not isinstance(md5, str) or (md5 and not _MD5.fullmatch(md5)):
            raise ManifestError(f"{at}.MD5checksum must be 32 hex digits, got {_kind(md5)}")
        seen[key] = i
        files.append(ManifestFile(key, size, md5.lower()))
    return tuple(files)


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Parse ``manifest.json`` (``where`` names it in errors); every field is checked for its type."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{where} does not hold a JSON object")
    missing = [
        k for k in ("sourceBucket", "destinationBucket", "fileFormat", "fileSchema", "files") if k not in doc
    ]
    if missing:
        raise ManifestError(f"{where} lacks {', '.join(missing)}")
    source, destination = _bucket(doc, "sourceBucket", where), _bucket(doc, "destinationBucket", where)
    file_format = doc["fileFormat"]
    if not isinstance(file_format, str) or file_format not in ("CSV", "ORC", "Parquet"):
        raise ManifestError(f"{where}: unknown fileFormat {_kind(file_format)}")
    file_schema = _text(doc, "fileSchema", where)
    files = _files(doc["files"], where)
    created = doc.get("creationTimestamp", "0")  # epoch ms, as a string
    if (
        not isinstance(created, str | int)
        or isinstance(created, bool)
        or not _EPOCH_MS.fullmatch(str(created))
    ):
        raise ManifestError(f"{where}: creationTimestamp must be epoch milliseconds, got {_kind(created)}")
    version = doc.get("version", "")
    if not isinstance(version, str):
        raise ManifestError(f"{where}: version must be a string, got {_kind(version)}")
    return Manifest(
        source_bucket=source,
        destination_bucket=destination,
        version=version,
        creation_timestamp=int(created),
        file_format=file_format,
        file_schema=file_schema,
        files=files,
        columns=tuple(schema_columns(file_format, file_schema, where)),
    )


# --- fileSchema -> columns ---------------------------------------------------------------------------

_PARQUET_FIELD = re.compile(
    r"(required|optional|repeated)\s+(\w+)\s+(\w+)\s*(?:\(((?:[^()]|\([^()]*\))*)\))?\s*(?:=\s*\d+\s*)?;",
    re.IGNORECASE,
)
_PARQUET_TYPES = {
    "binary": "string",
    "fixed_len_byte_array": "string",
    "boolean": "boolean",
    "int32": "int",
    "int64": "bigint",
    "int96": "timestamp",
    "float": "float",
    "double": "double",
}
_ORC_TYPES = {
    "string": "string",
    "varchar": "string",
    "char": "string",
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "int": "int",
    "bigint": "bigint",
    "float": "float",
    "double": "double",
    "timestamp": "timestamp",
    "date": "date",
}


def parquet_type(physical: str, annotation: str = "") -> str | None:
    """The Athena type of a Parquet column: its physical type as the schema language or pyarrow spells
    it (``int64``, ``BYTE_ARRAY``) and its annotation (``TIMESTAMP(MILLIS,true)``, ``TIMESTAMP_MILLIS``)."""
    athena = _PARQUET_TYPES.get({"byte_array": "binary"}.get(physical.lower(), physical.lower()))
    if athena is not None and annotation.upper().startswith("TIMESTAMP"):
        return "bigint"  # epoch milliseconds, as the S3 documentation declares it
    return athena


def column_name(field: str) -> str:
    """A report field name as a column: ``LastModifiedDate`` / ``last_modified_date`` -> the latter."""
    name = field.strip().strip('"')
    if not name.islower():
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


def _checked(columns: list[tuple[str, str]], where: str) -> list[tuple[str, str]]:
    seen: set[str] = set()
    for name, _ in columns:
        if not _COLUMN_NAME.fullmatch(name):
            raise ManifestError(f"{where}: fileSchema field {name!r} is not a usable column name")
        if name in seen:
            raise ManifestError(f"{where}: fileSchema names {name!r} twice")
        seen.add(name)
    if not columns:
        raise ManifestError(f"{where}: fileSchema lists no fields")
    return columns


def schema_columns(file_format: str, file_schema: str, where: str = "manifest") -> list[tuple[str, str]]:
    """``[(column, athena_type), ...]`` in the order of the data files, from a manifest's ``fileSchema``."""
    if file_format == "Parquet":
        body = file_schema[file_schema.find("{") + 1 : file_schema.rfind("}")]
        if "group" in body.split():
            raise ManifestError(f"{where}: nested Parquet groups in fileSchema are not supported")
        columns = []
        for _rep, ptype, name, annotation in _PARQUET_FIELD.findall(body):
            athena = parquet_type(ptype, annotation)
            if athena is None:
                raise ManifestError(f"{where}: Parquet type {ptype!r} of field {name!r} is not supported")
            columns.append((column_name(name), athena))
        return _checked(columns, where)
    if file_format == "ORC":
        text = file_schema.strip()
        if not (text.lower().startswith("struct<") and text.endswith(">")):
            raise ManifestError(f"{where}: ORC fileSchema {file_schema[:40]!r} is not a struct<...>")
        columns = []
        for part in text[7:-1].split(","):
            name, _, otype = part.partition(":")
            base = otype.strip().lower().split("(")[0]
            if base not in _ORC_TYPES:
                raise ManifestError(f"{where}: ORC type {otype!r} of field {name!r} is not supported")
            columns.append((column_name(name), _ORC_TYPES[base]))
        return _checked(columns, where)
    if file_format == "CSV":
        columns = [(column_name(f), CSV_TYPES.get(column_name(f), "string")) for f in file_schema.split(",")]
        return _checked(columns, where)
    raise ManifestError(f"{where}: unknown fileFormat {file_format!r}")
