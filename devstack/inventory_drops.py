"""Amazon S3 Inventory drops for the embedded stack, in the exact layout Amazon S3 writes them.

One drop of configuration ``<config-id>`` for bucket ``<source>`` under ``<prefix>`` is::

    <prefix>/<source>/<config-id>/data/<uuid>.parquet                      (or .csv.gz, .orc)
    <prefix>/<source>/<config-id>/YYYY-MM-DDTHH-MMZ/manifest.json
    <prefix>/<source>/<config-id>/hive/dt=YYYY-MM-DD-HH-MM/symlink.txt
    <prefix>/<source>/<config-id>/YYYY-MM-DDTHH-MMZ/manifest.checksum      (written last)

The objects listed are a simulated, versioned source bucket that lives from day to day: every day some
objects are created, some overwritten (the previous version becomes non-current), some deleted (a delete
marker becomes current); a lifecycle rule expires non-current versions after
:data:`NONCURRENT_DAYS` days (``exports/`` and ``shared/`` have no such rule: theirs stay
:data:`KEPT_NONCURRENT_DAYS` days, until someone cleans up), expired delete markers go with them, and
storage classes follow the age of each version (``legal/`` and ``shared/`` stay in STANDARD). A sync tool
deletes a few keys under ``tmp/`` that never existed, which leaves delete markers with no versions behind
them (kept :data:`STRAY_MARKER_DAYS` days). The state of any day is computed directly from
``(day, seed)``, so a drop is deterministic and consecutive days differ in a predictable way.

:func:`planted_anomaly` is a batch of objects no ordinary day brings (large, unencrypted, all at once),
which the embedded stack adds to its newest drop so that the report has an anomaly to alert about.

Formats as the real reports write them: Parquet (``last_modified_date`` and
``object_lock_retain_until_date`` are int64 ``TIMESTAMP_MILLIS``, i.e. epoch milliseconds), ORC, and CSV
(gzip, no header row, every value quoted, keys URL-encoded as HTML forms encode them: UTF-8 escapes,
a space as ``+`` and a ``+`` as ``%2B``; dates as ISO-8601 with milliseconds).

Write drops into the running stack::

    python -m devstack.inventory_drops --endpoint-url http://127.0.0.1:PORT --bucket inventory-dest \\
        --prefix inventory --source-bucket media-prod --config-id daily-all --from-date 2026-11-20
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST_VERSION = "2016-11-30"
NONCURRENT_DAYS = 30  # lifecycle: non-current versions expire this many days after they stop being current
KEPT_NONCURRENT_DAYS = 120  # ... except under these prefixes, which no rule covers
UNEXPIRED_PREFIXES = frozenset({"exports/", "shared/"})
STRAY_MARKER_DAYS = 60  # delete markers of keys that never existed stay this long
MAX_NONCURRENT = 2  # lifecycle: at most this many non-current versions are kept
MAX_LIFESPAN = 120  # short-lived keys are deleted within this many days of their creation
MS = 1000

DEFAULT_FIELDS: tuple[str, ...] = (
    "bucket",
    "key",
    "version_id",
    "is_latest",
    "is_delete_marker",
    "size",
    "last_modified_date",
    "e_tag",
    "storage_class",
    "is_multipart_uploaded",
    "replication_status",
    "encryption_status",
    "object_lock_retain_until_date",
    "object_lock_mode",
    "object_lock_legal_hold_status",
    "intelligent_tiering_access_tier",
    "bucket_key_status",
    "checksum_algorithm",
)
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# Every field a report can hold, its Arrow type, and its name in a CSV manifest's fileSchema.
FIELD_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "bucket": (pa.string(), "Bucket"),
    "key": (pa.string(), "Key"),
    "version_id": (pa.string(), "VersionId"),
    "is_latest": (pa.bool_(), "IsLatest"),
    "is_delete_marker": (pa.bool_(), "IsDeleteMarker"),
    "size": (pa.int64(), "Size"),
    "last_modified_date": (_TIMESTAMP, "LastModifiedDate"),
    "e_tag": (pa.string(), "ETag"),
    "storage_class": (pa.string(), "StorageClass"),
    "is_multipart_uploaded": (pa.bool_(), "IsMultipartUploaded"),
    "replication_status": (pa.string(), "ReplicationStatus"),
    "encryption_status": (pa.string(), "EncryptionStatus"),
    "object_lock_retain_until_date": (_TIMESTAMP, "ObjectLockRetainUntilDate"),
    "object_lock_mode": (pa.string(), "ObjectLockMode"),
    "object_lock_legal_hold_status": (pa.string(), "ObjectLockLegalHoldStatus"),
    "intelligent_tiering_access_tier": (pa.string(), "IntelligentTieringAccessTier"),
    "bucket_key_status": (pa.string(), "BucketKeyStatus"),
    "checksum_algorithm": (pa.string(), "ChecksumAlgorithm"),
    "object_access_control_list": (pa.string(), "ObjectAccessControlList"),
    "object_owner": (pa.string(), "ObjectOwner"),
}
_VERSION_FIELDS = frozenset({"version_id", "is_latest", "is_delete_marker"})
_FORMATS = {"parquet": ("Parquet", "parquet"), "csv": ("CSV", "csv.gz"), "orc": ("ORC", "orc")}
_EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()

# Top-level folders of the simulated bucket: (prefix, weight, extensions, median size in bytes)
_PREFIXES = (
    ("photos/", 30, ("jpg", "heic", "png"), 3_500_000),
    ("videos/", 8, ("mp4", "mov"), 180_000_000),
    ("thumbnails/", 20, ("webp",), 40_000),
    ("logs/", 15, ("log.gz",), 600_000),
    ("backups/", 7, ("tar.zst", "sql.gz"), 900_000_000),
    ("exports/", 10, ("csv", "json", "parquet"), 12_000_000),
    ("legal/", 3, ("pdf",), 800_000),
    ("shared/", 7, ("docx", "xlsx", "txt"), 250_000),
)
_NAMES = ("IMG", "DSC", "report", "holiday pics", "Q3 summary", "café menu", "scan", "clip", "notes")


def _rng(*parts: object) -> random.Random:
    return random.Random("/".join(map(str, parts)))


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@dataclass(frozen=True)
class _Lineage:
    """One key of the simulated bucket: when it was created, overwritten and deleted (day ordinals)."""

    ident: str
    key: str
    prefix: str
    born: int
    period: int  # overwritten every `period` days after `born`
    deleted: int | None  # day the delete marker appears, None: never
    folder: bool
    median_size: int


def _lineage(seed: int, source_bucket: str, ident: str, born: int, lifespan: int | None) -> _Lineage:
    rng = _rng("lineage", seed, source_bucket, ident)
    prefix, _w, exts, median = rng.choices(_PREFIXES, [p[1] for p in _PREFIXES])[0]
    created = date.fromordinal(max(1, born))
    folder = rng.random() < 0.02
    if folder:
        key = f"{prefix}{created:%Y}/{rng.choice(_NAMES)} {rng.randrange(100)}/"
    else:
        name = rng.choice(_NAMES).replace(" ", rng.choice([" ", "_", "-"]))
        key = f"{prefix}{created:%Y/%m/%d}/{name}_{ident.replace('/', '-')}.{rng.choice(exts)}"
    period = rng.choice([7, 30, 90, 180, 365, 100_000, 100_000, 100_000])
    return _Lineage(
        ident, key, prefix, born, period, None if lifespan is None else born + lifespan, folder, median
    )


def _lineages(day: date, n: int, seed: int, source_bucket: str) -> list[_Lineage]:
    """Every key that has a row in the report of ``day``: long-lived ones, and a daily churn."""
    today = day.toordinal()
    result: list[_Lineage] = []
    base_count = max(1, n // 4)
    origin = date(2019, 1, 1).toordinal()
    for j in range(base_count):  # long-lived objects, created over the three years from 2019
        born = origin + _rng("born", seed, j).randrange(3 * 365)
        if born <= today:
            result.append(_lineage(seed, source_bucket, f"b{j}", born, None))
    per_day = max(1, n // 200)  # churn: per_day new keys a day, each living 1..MAX_LIFESPAN days
    horizon = MAX_LIFESPAN + KEPT_NONCURRENT_DAYS + 1
    for i in range((today - horizon) * per_day, (today + 1) * per_day):
        born = i // per_day
        lifespan = _rng("life", seed, i).randint(1, MAX_LIFESPAN)
        if born + lifespan + KEPT_NONCURRENT_DAYS <= today:  # gone, whatever its prefix
            continue
        lin = _lineage(seed, source_bucket, f"c{i}", born, lifespan)
        if born + lifespan + _noncurrent_days(lin) > today:  # still has a row today
            result.append(lin)
    return result


def _noncurrent_days(lin: _Lineage) -> int:
    """How long the lifecycle keeps a non-current version of ``lin``."""
    return KEPT_NONCURRENT_DAYS if lin.prefix in UNEXPIRED_PREFIXES else NONCURRENT_DAYS


def _storage_class(lin: _Lineage, age_days: int, rng: random.Random) -> tuple[str, str | None]:
    """(storage_class, intelligent_tiering_access_tier) of a version ``age_days`` old."""
    if lin.folder:
        return "STANDARD", None
    if lin.prefix == "backups/":
        return ("GLACIER" if age_days < 90 else "DEEP_ARCHIVE"), None
    if lin.prefix == "logs/":
        return ("STANDARD" if age_days < 30 else "STANDARD_IA" if age_days < 180 else "GLACIER_IR"), None
    if lin.prefix in {"photos/", "videos/"}:
        tier = "FREQUENT" if age_days < 30 else "INFREQUENT" if age_days < 90 else "ARCHIVE_INSTANT_ACCESS"
        return "INTELLIGENT_TIERING", tier
    if lin.prefix == "thumbnails/":
        return rng.choice(["STANDARD", "STANDARD", "ONEZONE_IA", "REDUCED_REDUNDANCY"]), None
    if lin.prefix in {"legal/", "shared/"}:  # no lifecycle rule covers them: they stay where they were put
        return "STANDARD", None
    return ("STANDARD" if age_days < 60 else "STANDARD_IA"), None


def _version_row(
    lin: _Lineage, version: int, written: int, today: int, *, seed: int, bucket: str, latest: bool
) -> dict[str, Any]:
    rng = _rng("version", seed, bucket, lin.ident, version)
    written_at = datetime.fromordinal(written).replace(tzinfo=UTC) - timedelta(
        seconds=rng.randrange(1, 86400)
    )
    size = 0 if lin.folder else max(1, int(rng.lognormvariate(0, 1.2) * lin.median_size))
    multipart = size > 16 * 1024 * 1024 and rng.random() < 0.9
    e_tag = _EMPTY_MD5 if size == 0 else _hex(rng, 128)
    if multipart:
        e_tag = f"{e_tag}-{max(2, size // (16 * 1024 * 1024))}"
    storage_class, tier = _storage_class(lin, today - written, rng)
    if written_at < datetime(2023, 1, 5, tzinfo=UTC):  # before default encryption, some stayed unencrypted
        encryption = rng.choice(["NOT-SSE", "SSE-S3", "SSE-S3"])
    else:
        encryption = rng.choice(["SSE-S3", "SSE-S3", "SSE-S3", "SSE-KMS", "DSSE-KMS"])
    locked = lin.prefix == "legal/"
    return {
        "bucket": bucket,
        "key": lin.key,
        "version_id": _hex(rng, 128)[:32],
        "is_latest": latest,
        "is_delete_marker": False,
        "size": size,
        "last_modified_date": int(written_at.timestamp() * MS),
        "e_tag": e_tag,
        "storage_class": storage_class,
        "is_multipart_uploaded": multipart,
        "replication_status": "COMPLETED" if lin.prefix == "backups/" else None,
        "encryption_status": encryption,
        "object_lock_retain_until_date": (
            int((written_at + timedelta(days=rng.choice([365, 2555]))).timestamp() * MS) if locked else None
        ),
        "object_lock_mode": rng.choice(["GOVERNANCE", "COMPLIANCE"]) if locked else None,
        "object_lock_legal_hold_status": rng.choice(["OFF", "OFF", "ON"]) if locked else None,
        "intelligent_tiering_access_tier": tier,
        "bucket_key_status": "ENABLED" if encryption.endswith("KMS") and rng.random() < 0.7 else "DISABLED",
        "checksum_algorithm": (
            "CRC64NVME"
            if written_at >= datetime(2024, 12, 1, tzinfo=UTC)
            else rng.choice([None, "SHA256", "CRC32"])
        ),
        "object_access_control_list": None,
        "object_owner": None,
    }


def _delete_marker_row(lin: _Lineage, *, seed: int, bucket: str) -> dict[str, Any]:
    rng = _rng("marker", seed, bucket, lin.ident)
    assert lin.deleted is not None  # noqa: S101 - only called for deleted lineages
    at = datetime.fromordinal(lin.deleted).replace(tzinfo=UTC) - timedelta(seconds=rng.randrange(1, 86400))
    row: dict[str, Any] = dict.fromkeys(FIELD_TYPES)
    row.update(
        bucket=bucket,
        key=lin.key,
        version_id=_hex(rng, 128)[:32],
        is_latest=True,
        is_delete_marker=True,
        last_modified_date=int(at.timestamp() * MS),
    )
    return row


def _rows_for(lin: _Lineage, today: int, *, seed: int, bucket: str, versions: bool) -> list[dict[str, Any]]:
    last_write_day = today if lin.deleted is None else min(today, lin.deleted - 1)
    current = (last_write_day - lin.born) // lin.period  # index of the newest version written
    rows: list[dict[str, Any]] = []
    deleted = lin.deleted is not None and lin.deleted <= today
    if deleted:
        if versions:
            rows.append(_delete_marker_row(lin, seed=seed, bucket=bucket))
    else:
        written = lin.born + current * lin.period
        rows.append(_version_row(lin, current, written, today, seed=seed, bucket=bucket, latest=True))
    if not versions:
        return rows
    # non-current versions: the newest MAX_NONCURRENT that stopped being current less than the
    # lifecycle's days ago
    noncurrent_from = current if deleted else current - 1
    for version in range(noncurrent_from, max(-1, noncurrent_from - MAX_NONCURRENT), -1):
        superseded = (
            lin.deleted if (deleted and version == current) else lin.born + (version + 1) * lin.period
        )
        if superseded is None or today - superseded >= _noncurrent_days(lin):
            break
        written = lin.born + version * lin.period
        rows.append(_version_row(lin, version, written, today, seed=seed, bucket=bucket, latest=False))
    if deleted and len(rows) == 1:  # an expired object delete marker is removed by the lifecycle rule
        return []
    return rows


def _stray_markers(day: date, n: int, seed: int, bucket: str) -> list[dict[str, Any]]:
    """Delete markers of keys under ``tmp/`` that never existed (a sync tool deleting what it thinks it
    wrote): nothing is behind them. ``n // 1000`` a day, each kept :data:`STRAY_MARKER_DAYS` days."""
    today = day.toordinal()
    per_day = max(1, n // 1000)
    rows = []
    for i in range((today - STRAY_MARKER_DAYS + 1) * per_day, (today + 1) * per_day):
        born = i // per_day
        rng = _rng("stray", seed, bucket, i)
        at = datetime.fromordinal(born).replace(tzinfo=UTC) - timedelta(seconds=rng.randrange(1, 86400))
        row: dict[str, Any] = dict.fromkeys(FIELD_TYPES)
        row.update(
            bucket=bucket,
            key=f"tmp/{date.fromordinal(born):%Y/%m/%d}/sync-{i}.part",
            version_id=_hex(rng, 128)[:32],
            is_latest=True,
            is_delete_marker=True,
            last_modified_date=int(at.timestamp() * MS),
        )
        rows.append(row)
    return rows


def _check_fields(fields: Sequence[str]) -> list[str]:
    chosen = list(fields)
    unknown = [f for f in chosen if f not in FIELD_TYPES]
    if unknown:
        raise ValueError(f"unknown inventory field(s) {unknown}; known: {sorted(FIELD_TYPES)}")
    missing = [f for f in ("bucket", "key") if f not in chosen]
    if missing:
        raise ValueError(f"an inventory report always holds bucket and key; fields lack {missing}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"inventory fields repeat a name: {chosen}")
    return chosen


def arrow_schema(fields: Sequence[str] = DEFAULT_FIELDS) -> pa.Schema:
    """The Arrow schema of a report with these fields (bucket and key are required, the rest optional)."""
    return pa.schema(
        [pa.field(f, FIELD_TYPES[f][0], nullable=f not in {"bucket", "key"}) for f in _check_fields(fields)]
    )


def generate_objects(
    day: date,
    *,
    n: int = 2000,
    seed: int = 11,
    source_bucket: str = "media-prod",
    fields: Sequence[str] = DEFAULT_FIELDS,
) -> pa.Table:
    """The rows of ``source_bucket``'s inventory report for ``day``: about ``n`` of them.

    With the version fields (``version_id``, ``is_latest``, ``is_delete_marker``) the report lists all
    versions, delete markers included; without them, current versions only. Sorted by key, then newest
    version first. Deterministic for ``(day, seed)``; day ``d + 1`` is day ``d`` plus the keys created
    that day, minus the ones deleted, with overwritten keys carrying a new current version.
    """
    if n < 1:
        raise ValueError(f"generate_objects needs n >= 1, got {n}")
    schema = arrow_schema(fields)
    versions = bool(_VERSION_FIELDS & set(schema.names))
    today = day.toordinal()
    rows: list[dict[str, Any]] = []
    for lin in _lineages(day, n, seed, source_bucket):
        rows.extend(_rows_for(lin, today, seed=seed, bucket=source_bucket, versions=versions))
    if versions:
        rows.extend(_stray_markers(day, n, seed, source_bucket))
    rows.sort(key=lambda r: (r["key"], not r["is_latest"], -r["last_modified_date"]))
    return pa.table(
        {name: pa.array([r[name] for r in rows], schema.field(name).type) for name in schema.names},
        schema=schema,
    )


def planted_anomaly(
    day: date,
    *,
    objects: int = 120,
    source_bucket: str = "media-prod",
    fields: Sequence[str] = DEFAULT_FIELDS,
) -> pa.Table:
    """Rows no ordinary day brings, to add to the report of ``day``: ``objects`` large files (about
    600 MB each) uploaded under ``imports/`` in the hours before it, in STANDARD and unencrypted, as a
    migration run with the wrong settings would leave them. Against the day before, the bucket's bytes
    jump by a third and unencrypted objects appear (the report's anomaly checks)."""
    rng = _rng("planted", source_bucket, day.isoformat())
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=6)
    rows = []
    for i in range(objects):
        row: dict[str, Any] = dict.fromkeys(FIELD_TYPES)
        size = int(rng.uniform(500, 700) * 1_000_000)
        row.update(
            bucket=source_bucket,
            key=f"imports/{day:%Y-%m-%d}/migration-{i:04d}.tar",
            version_id=_hex(rng, 128)[:32],
            is_latest=True,
            is_delete_marker=False,
            size=size,
            last_modified_date=int((start + timedelta(seconds=rng.randrange(5 * 3600))).timestamp() * MS),
            e_tag=f"{_hex(rng, 128)}-{max(2, size // (16 * 1024 * 1024))}",
            storage_class="STANDARD",
            is_multipart_uploaded=True,
            encryption_status="NOT-SSE",
            bucket_key_status="DISABLED",
            checksum_algorithm="CRC64NVME",
        )
        rows.append(row)
    schema = arrow_schema(fields)
    return pa.table(
        {name: pa.array([r[name] for r in rows], schema.field(name).type) for name in schema.names},
        schema=schema,
    )


# ---------------------------------------------------------------------------------------------------------
# Serialising a report
# ---------------------------------------------------------------------------------------------------------


_PARQUET_PHYSICAL = {"BYTE_ARRAY": "binary"}  # the schema language's name for it


def parquet_file_schema(data: bytes) -> str:
    """A manifest's ``fileSchema`` for a Parquet data file, read from the file itself.

    Written the way Amazon S3 writes it, with the columns' converted types:
    ``message s3.inventory { required binary bucket (UTF8); ... optional int64 size; ...}``.
    """
    schema = pq.ParquetFile(io.BytesIO(data)).schema
    parts = []
    for column in schema:
        repetition = "required" if column.max_definition_level == 0 else "optional"
        annotation = "" if column.converted_type in (None, "NONE") else f" ({column.converted_type})"
        physical = _PARQUET_PHYSICAL.get(column.physical_type, column.physical_type.lower())
        parts.append(f"{repetition} {physical} {column.name}{annotation};")
    return "message s3.inventory { " + " ".join(parts) + "}"


_ORC_NAMES = {pa.string(): "string", pa.bool_(): "boolean", pa.int64(): "bigint"}


def orc_file_schema(data: bytes) -> str:
    """A manifest's ``fileSchema`` for an ORC data file: ``struct<bucket:string,...>``, read from the file."""
    import pyarrow.orc as orc

    schema = orc.ORCFile(io.BytesIO(data)).schema
    parts = []
    for f in schema:
        name = "timestamp" if pa.types.is_timestamp(f.type) else _ORC_NAMES.get(f.type, str(f.type))
        parts.append(f"{f.name}:{name}")
    return f"struct<{','.join(parts)}>"


def csv_file_schema(fields: Sequence[str]) -> str:
    """A CSV manifest's ``fileSchema``: ``Bucket, Key, VersionId, ...``."""
    return ", ".join(FIELD_TYPES[f][1] for f in fields)


def _csv_value(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if name == "key":
        return quote_plus(value, safe="/")  # CSV reports URL-encode key names, a space as "+"
    return str(value)


def serialise(table: pa.Table, file_format: str) -> bytes:
    """One data file of ``table`` in the report format: Parquet, ORC or gzip'd CSV."""
    if file_format == "Parquet":
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="snappy", coerce_timestamps="ms", write_statistics=True)
        return buf.getvalue()
    if file_format == "ORC":
        import pyarrow.orc as orc

        naive = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.timestamp("ms"), f.nullable) if pa.types.is_timestamp(f.type) else f
                    for f in table.schema
                ]
            )
        )
        buf = io.BytesIO()
        orc.write_table(naive, buf, compression="zlib")
        return buf.getvalue()
    if file_format == "CSV":
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        names = table.schema.names
        for row in table.to_pylist():
            writer.writerow([_csv_value(name, row[name]) for name in names])
        return gzip.compress(text.getvalue().encode(), mtime=0)
    raise ValueError(f"unknown inventory format {file_format!r}; use Parquet, CSV or ORC")


def _file_schema(file_format: str, data: bytes, fields: Sequence[str]) -> str:
    if file_format == "Parquet":
        return parquet_file_schema(data)
    if file_format == "ORC":
        return orc_file_schema(data)
    return csv_file_schema(fields)


# ---------------------------------------------------------------------------------------------------------
# Writing a drop
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Drop:
    """Where one written drop is, and what it holds."""

    dt: str  # the partition value, YYYY-MM-DD-HH-MM
    manifest_key: str
    checksum_key: str
    symlink_key: str
    data_keys: list[str]
    file_format: str
    table: pa.Table
    destination_bucket: str
    base_prefix: str  # <prefix>/<source-bucket>/<config-id>
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """The dated folder holding manifest.json and manifest.checksum."""
        return self.manifest_key.rsplit("/", 1)[0]

    def uri(self, key: str) -> str:
        return f"s3://{self.destination_bucket}/{key}"


def _normalise_format(fmt: str) -> tuple[str, str]:
    try:
        return _FORMATS[fmt.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown inventory format {fmt!r}; use Parquet, CSV or ORC") from None


def write_drop(
    s3_client: Any,
    *,
    destination_bucket: str,
    destination_prefix: str,
    source_bucket: str,
    config_id: str,
    day: date,
    fmt: str = "Parquet",
    n: int = 2000,
    seed: int = 11,
    fields: Sequence[str] = DEFAULT_FIELDS,
    hour_minute: str = "01-00",
    files: int = 2,
    table: pa.Table | None = None,
) -> Drop:
    """Write one drop of ``day`` to ``destination_bucket`` the way Amazon S3 does; ``manifest.checksum`` last.

    ``table`` overrides the generated rows (its columns must be known inventory fields). Keys are
    deterministic for the same inputs, so writing a drop again replaces the same objects.
    """
    file_format, extension = _normalise_format(fmt)
    if files < 1:
        raise ValueError(f"a drop needs at least one data file, got files={files}")
    hh, _, mm = hour_minute.partition("-")
    if not (hh.isdigit() and mm.isdigit() and len(hh) == len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"hour_minute must look like '01-00', got {hour_minute!r}")
    if table is None:
        table = generate_objects(day, n=n, seed=seed, source_bucket=source_bucket, fields=fields)
    else:
        table = table.cast(arrow_schema(table.schema.names))
    fields = table.schema.names

    base = "/".join(p for p in (destination_prefix.strip("/"), source_bucket, config_id) if p)
    dt = f"{day:%Y-%m-%d}-{hour_minute}"
    folder = f"{base}/{day:%Y-%m-%d}T{hour_minute}Z"
    rng = _rng("drop", seed, destination_bucket, base, dt, file_format)

    chunk = -(-table.num_rows // files) if table.num_rows else 0
    pieces = [table.slice(i * chunk, chunk) for i in range(files)] if chunk else [table]
    entries: list[dict[str, Any]] = []
    data_keys: list[str] = []
    file_schema = ""
    for piece in pieces:
        data = serialise(piece, file_format)
        key = f"{base}/data/{uuid.UUID(int=rng.getrandbits(128), version=4)}.{extension}"
        s3_client.put_object(Bucket=destination_bucket, Key=key, Body=data)
        entries.append(
            {
                "key": key,
                "size": len(data),
                "MD5checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            }
        )
        data_keys.append(key)
        file_schema = file_schema or _file_schema(file_format, data, fields)

    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": MANIFEST_VERSION,
        "creationTimestamp": str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * MS)),
        "fileFormat": file_format,
        "fileSchema": file_schema,
        "files": entries,
    }
    manifest_raw = json.dumps(manifest, indent=2).encode()
    manifest_key = f"{folder}/manifest.json"
    symlink_key = f"{base}/hive/dt={dt}/symlink.txt"
    checksum_key = f"{folder}/manifest.checksum"
    s3_client.put_object(Bucket=destination_bucket, Key=manifest_key, Body=manifest_raw)
    symlink = "".join(f"s3://{destination_bucket}/{key}\n" for key in data_keys)
    s3_client.put_object(Bucket=destination_bucket, Key=symlink_key, Body=symlink.encode())
    checksum = hashlib.md5(manifest_raw, usedforsecurity=False).hexdigest()
    s3_client.put_object(Bucket=destination_bucket, Key=checksum_key, Body=f"{checksum}\n".encode())
    return Drop(
        dt=dt,
        manifest_key=manifest_key,
        checksum_key=checksum_key,
        symlink_key=symlink_key,
        data_keys=data_keys,
        file_format=file_format,
        table=table,
        destination_bucket=destination_bucket,
        base_prefix=base,
        manifest=manifest,
    )


def write_config_drop(s3_client: Any, inv: Any, day: date, **kwargs: Any) -> Drop:
    """:func:`write_drop` where the inventory configuration ``inv`` expects its drops (bucket, prefix,
    source bucket, configuration id); ``kwargs`` as :func:`write_drop` takes them."""
    return write_drop(
        s3_client,
        destination_bucket=inv.destination_bucket,
        destination_prefix=inv.destination_prefix,
        source_bucket=inv.source_bucket,
        config_id=inv.config_id,
        day=day,
        **kwargs,
    )


def _date(value: str) -> date:
    return date.fromisoformat(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS itself)")
    parser.add_argument("--bucket", required=True, help="inventory destination bucket")
    parser.add_argument("--prefix", default="", help="destination prefix of the inventory configuration")
    parser.add_argument("--source-bucket", default="media-prod")
    parser.add_argument("--config-id", required=True)
    parser.add_argument("--from-date", type=_date, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to-date", type=_date, help="last day, YYYY-MM-DD (default: --from-date)")
    parser.add_argument("--format", default="Parquet", choices=["Parquet", "CSV", "ORC"])
    parser.add_argument("-n", type=int, default=2000, help="about this many rows per drop")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--files", type=int, default=2, help="data files per drop")
    parser.add_argument("--hour-minute", default="01-00")
    args = parser.parse_args(argv)
    last = args.to_date or args.from_date
    if last < args.from_date:
        parser.error(f"--to-date {last} is before --from-date {args.from_date}")

    import boto3

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url)
    day = args.from_date
    while day <= last:
        drop = write_drop(
            s3,
            destination_bucket=args.bucket,
            destination_prefix=args.prefix,
            source_bucket=args.source_bucket,
            config_id=args.config_id,
            day=day,
            fmt=args.format,
            n=args.n,
            seed=args.seed,
            files=args.files,
            hour_minute=args.hour_minute,
        )
        print(
            f"wrote {drop.uri(drop.manifest_key)}: {drop.table.num_rows} rows in {len(drop.data_keys)} "
            f"{drop.file_format} file(s), partition dt={drop.dt}",
            flush=True,
        )
        day += timedelta(days=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
