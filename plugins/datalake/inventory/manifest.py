"""Where an inventory drop lives in S3, and what its ``manifest.json`` says.

A drop of configuration ``<prefix>/<source-bucket>/<config-id>`` is the folder
``<base>/YYYY-MM-DDTHH-MMZ/`` holding ``manifest.json`` and ``manifest.checksum`` (written last), the
data files under ``<base>/data/`` and the symlink list ``<base>/hive/dt=YYYY-MM-DD-HH-MM/symlink.txt``.
The hour and minute of a drop are not known in advance: drops are found by listing one day's folders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from datalake.config import InventoryConfig

MANIFEST = "manifest.json"
CHECKSUM = "manifest.checksum"
SYMLINK = "symlink.txt"

_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})Z$")
_COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

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
class DropRef:
    """Where one drop's objects are, derived from its dated folder name."""

    bucket: str
    base_prefix: str
    folder: str  # YYYY-MM-DDTHH-MMZ

    @classmethod
    def from_folder(cls, inv: InventoryConfig, folder: str) -> DropRef:
        if not _FOLDER.match(folder):
            raise ManifestError(f"{folder!r} is not a drop folder name (YYYY-MM-DDTHH-MMZ)")
        return cls(inv.destination_bucket, inv.base_prefix, folder)

    @property
    def day(self) -> date:
        return date.fromisoformat(self.folder[:10])

    @property
    def dt(self) -> str:
        """The partition value: the ``dt=`` folder name of the hive layout, ``YYYY-MM-DD-HH-MM``."""
        return f"{self.folder[:10]}-{self.folder[11:13]}-{self.folder[14:16]}"

    @property
    def manifest_key(self) -> str:
        return f"{self.base_prefix}/{self.folder}/{MANIFEST}"

    @property
    def checksum_key(self) -> str:
        return f"{self.base_prefix}/{self.folder}/{CHECKSUM}"

    @property
    def symlink_key(self) -> str:
        return f"{self.base_prefix}/hive/dt={self.dt}/{SYMLINK}"

    @property
    def partition_location(self) -> str:
        return f"s3://{self.bucket}/{self.base_prefix}/hive/dt={self.dt}/"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def as_dict(self) -> dict[str, str]:
        return {"bucket": self.bucket, "base_prefix": self.base_prefix, "folder": self.folder, "dt": self.dt}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DropRef:
        return cls(raw["bucket"], raw["base_prefix"], raw["folder"])


def folder_for_dt(dt: str) -> str:
    """``2026-11-02-01-00`` -> ``2026-11-02T01-00Z`` (the inverse of :attr:`DropRef.dt`)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}", dt):
        raise ManifestError(f"{dt!r} is not a partition value (YYYY-MM-DD-HH-MM)")
    return f"{dt[:10]}T{dt[11:13]}-{dt[14:16]}Z"


def list_drop_folders(s3: Any, inv: InventoryConfig, day: date | None = None) -> list[str]:
    """The dated folders under the configuration's prefix (of one ``day``, or all), sorted.

    One LIST call per 1,000 folders of that prefix: listing one day costs one call.
    """
    prefix = f"{inv.base_prefix}/" + (f"{day.isoformat()}T" if day else "")
    folders: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=inv.destination_bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(inv.base_prefix) + 1 :].rstrip("/")
            if _FOLDER.match(name):
                folders.append(name)
    return sorted(folders)


def complete_drops(s3: Any, inv: InventoryConfig, day: date | None = None) -> list[DropRef]:
    """The drops (of one ``day``, or all) whose ``manifest.checksum`` is present, oldest first."""
    prefix = f"{inv.base_prefix}/" + (f"{day.isoformat()}T" if day else "")
    found: list[DropRef] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=inv.destination_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rest = obj["Key"][len(inv.base_prefix) + 1 :]
            folder, _, name = rest.partition("/")
            if name == CHECKSUM and _FOLDER.match(folder):
                found.append(DropRef(inv.destination_bucket, inv.base_prefix, folder))
    return sorted(found, key=lambda d: d.folder)


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


def _bucket_name(value: str) -> str:
    """``arn:aws:s3:::bucket`` or ``bucket`` -> ``bucket``."""
    return value.rsplit(":", 1)[-1] if value.startswith("arn:") else value


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Parse ``manifest.json`` (``where`` names it in errors)."""
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
    file_format = doc["fileFormat"]
    if file_format not in ("CSV", "ORC", "Parquet"):
        raise ManifestError(f"{where}: unknown fileFormat {file_format!r}")
    files = []
    for i, item in enumerate(doc["files"]):
        try:
            files.append(ManifestFile(str(item["key"]), int(item["size"]), str(item.get("MD5checksum", ""))))
        except (KeyError, TypeError, ValueError):
            raise ManifestError(f"{where}: files[{i}] needs a key and an integer size") from None
    if not files:
        raise ManifestError(f"{where} lists no data files")
    try:
        created = int(doc.get("creationTimestamp", 0))
    except (TypeError, ValueError):
        raise ManifestError(
            f"{where}: creationTimestamp {doc.get('creationTimestamp')!r} is not epoch ms"
        ) from None
    return Manifest(
        source_bucket=doc["sourceBucket"],
        destination_bucket=_bucket_name(doc["destinationBucket"]),
        version=str(doc.get("version", "")),
        creation_timestamp=created,
        file_format=file_format,
        file_schema=doc["fileSchema"],
        files=tuple(files),
        columns=tuple(schema_columns(file_format, doc["fileSchema"], where)),
    )


def read_manifest(s3: Any, drop: DropRef) -> tuple[bytes, Manifest]:
    """The raw bytes of a drop's ``manifest.json`` (for its checksum) and their parsed form."""
    raw = s3.get_object(Bucket=drop.bucket, Key=drop.manifest_key)["Body"].read()
    return raw, parse_manifest(raw, drop.uri(drop.manifest_key))


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


def column_name(field: str) -> str:
    """A report field name as a column: ``LastModifiedDate`` / ``last_modified_date`` -> the latter."""
    name = field.strip().strip('"')
    if not name.islower():
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


def _checked(columns: list[tuple[str, str]], where: str) -> list[tuple[str, str]]:
    seen: set[str] = set()
    for name, _ in columns:
        if not _COLUMN_NAME.match(name):
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
            athena = _PARQUET_TYPES.get(ptype.lower())
            if athena is None:
                raise ManifestError(f"{where}: Parquet type {ptype!r} of field {name!r} is not supported")
            if annotation.upper().startswith("TIMESTAMP"):
                athena = "bigint"  # epoch milliseconds, as the S3 documentation declares it
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
