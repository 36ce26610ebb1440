"""Check a drop before Athena can see it: each problem gets its own error, naming the object at fault.

The checks, in order: ``manifest.checksum`` is the MD5 of ``manifest.json``; the manifest is well
formed (every field of its type), of the configured format and for the configured source and
destination buckets; every data file it lists exists with the listed size (and, for single-part
uploads, the listed MD5) and is a file of that format whose columns are the manifest's; the
``symlink.txt`` of the drop lists exactly those files; the manifest's columns fit the table.
Nothing here writes anything.

**What a data file's check reads** (ranged GETs, the same whatever the file's size): Parquet, the last
64 KiB (pyarrow's footer read, one request; a footer larger than that costs one more); ORC, the last
16 KiB (one request); CSV, the first KiB (gzip header and first line, decompressed incrementally). No
check of one file reads more than :data:`PROBE_LIMIT`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from datalake.config import InventoryConfig
from datalake.inventory.layout import DropRef
from datalake.inventory.manifest import Manifest, ManifestError, column_name, parquet_type, parse_manifest

# Reads of a drop's small objects are capped: anything larger is not what its name says, and would be
# read into the worker's memory. A manifest holds about 200 bytes per data file, so 16 MiB is about
# 80,000 data files (a drop has a handful to a few thousand); symlink.txt lists the same files, one
# s3:// URI (about 120 bytes) a line; manifest.checksum is 32 hex digits and a newline.
MANIFEST_LIMIT = 16 * 1024 * 1024
SYMLINK_LIMIT = 16 * 1024 * 1024
CHECKSUM_LIMIT = 1024
PROBE_LIMIT = 1024 * 1024  # bytes one data file's format check may read
CSV_FIRST_READ = 1024
CSV_LINE_LIMIT = 64 * 1024  # an inventory line is a few hundred bytes; a key at most 1,024 (3x encoded)


class DropValidationError(ValueError):
    """A drop that must not be registered."""


class ChecksumMismatch(DropValidationError):
    pass


class MissingDataFile(DropValidationError):
    pass


class SizeMismatch(DropValidationError):
    pass


class MissingSymlink(DropValidationError):
    pass


class SymlinkMismatch(DropValidationError):
    pass


class SchemaDrift(DropValidationError):
    pass


class WrongFormat(DropValidationError):
    pass


class WrongBucket(DropValidationError):
    pass


class BadManifest(DropValidationError):
    pass


class DataFileMismatch(DropValidationError):
    """A data file that is not a file of the manifest's format, or not with the manifest's columns."""


@dataclass(frozen=True)
class ValidDrop:
    """What the next steps need of a checked drop (JSON-able through :meth:`as_dict`)."""

    drop: DropRef
    manifest: Manifest
    new_columns: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.drop.as_dict(),
            "file_format": self.manifest.file_format,
            "columns": [list(c) for c in self.manifest.columns],
            "new_columns": [list(c) for c in self.new_columns],
            "data_files": len(self.manifest.files),
            "data_bytes": sum(f.size for f in self.manifest.files),
            "location": self.drop.partition_location,
        }


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _get(
    s3: Any, drop: DropRef, key: str, missing: type[DropValidationError], what: str, limit: int
) -> bytes:
    """The object's bytes, refused unread when it is larger than ``limit``."""
    try:
        answer = s3.get_object(Bucket=drop.bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            raise missing(f"drop {drop.folder}: {what} {drop.uri(key)} is missing") from None
        raise
    with answer["Body"] as body:
        if answer["ContentLength"] > limit:
            raise DropValidationError(
                f"drop {drop.folder}: {what} {drop.uri(key)} has {answer['ContentLength']} bytes, more "
                f"than a {what} can have ({limit})"
            )
        return body.read(limit + 1)


def check_checksum(drop: DropRef, manifest_raw: bytes, checksum_raw: bytes) -> None:
    expected = (
        checksum_raw.decode("ascii", "replace").strip().split()[0].lower() if checksum_raw.strip() else ""
    )
    actual = hashlib.md5(manifest_raw, usedforsecurity=False).hexdigest()
    if expected != actual:
        raise ChecksumMismatch(
            f"drop {drop.folder}: {drop.uri(drop.checksum_key)} says {expected or '(empty)'} but the MD5 of "
            f"{drop.uri(drop.manifest_key)} is {actual}"
        )


def check_buckets(inv: InventoryConfig, drop: DropRef, manifest: Manifest) -> None:
    """The manifest is an inventory of the configured source bucket, delivered where it was found."""
    where = f"drop {drop.folder}: {drop.uri(drop.manifest_key)}"
    if manifest.source_bucket != inv.source_bucket:
        raise WrongBucket(
            f"{where} is an inventory of bucket {manifest.source_bucket!r}; inventory {inv.name!r} is "
            f"configured for source_bucket {inv.source_bucket!r}"
        )
    if manifest.destination_bucket != drop.bucket:
        raise WrongBucket(
            f"{where} names destination bucket {manifest.destination_bucket!r}, not {drop.bucket!r}"
        )


def check_data_files(s3: Any, drop: DropRef, manifest: Manifest) -> None:
    """One HEAD per data file of this drop (the cost follows the drop's size, never the history)."""
    for f in manifest.files:
        try:
            head = s3.head_object(Bucket=drop.bucket, Key=f.key)
        except ClientError as exc:
            if _missing(exc):
                raise MissingDataFile(
                    f"drop {drop.folder}: data file {drop.uri(f.key)} listed in manifest.json is missing"
                ) from None
            raise
        if head["ContentLength"] != f.size:
            raise SizeMismatch(
                f"drop {drop.folder}: data file {drop.uri(f.key)} has {head['ContentLength']} bytes, "
                f"manifest.json lists {f.size}"
            )
        etag = head.get("ETag", "").strip('"')
        if f.md5 and etag and "-" not in etag and etag != f.md5:
            raise ChecksumMismatch(
                f"drop {drop.folder}: data file {drop.uri(f.key)} has MD5 {etag}, manifest.json lists {f.md5}"
            )


class _OverLimit(ValueError):
    """A read past the probe's limit: a footer that large is not an inventory report's."""


class _RangedObject(io.RawIOBase):
    """An S3 object as a read-only file whose every read is one ranged GET (pyarrow reads a footer
    through it); reading more than ``limit`` bytes in all is refused."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int, limit: int = PROBE_LIMIT) -> None:
        super().__init__()
        self.s3, self.bucket, self.key, self.size, self.limit = s3, bucket, key, size, limit
        self.position = 0
        self.bytes_read = 0
        self.failure: Exception | None = None  # pyarrow's ORC reader wraps what a read raised

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def read_range(self, start: int, length: int) -> bytes:
        length = min(length, self.size - start)
        if length <= 0:
            return b""
        if self.bytes_read + length > self.limit:
            self.failure = _OverLimit(f"reading it needs more than {self.limit} bytes")
            raise self.failure
        try:
            answer = self.s3.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{start + length - 1}"
            )
            with answer["Body"] as body:
                data = body.read()
        except Exception as exc:
            self.failure = exc
            raise
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read_range(self.position, len(buffer))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def _arrow_athena_type(arrow_type: Any) -> str:
    """The Athena type of a column as pyarrow reads it from an ORC file."""
    import pyarrow as pa

    simple = {
        pa.string(): "string",
        pa.large_string(): "string",
        pa.bool_(): "boolean",
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.date32(): "date",
    }
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    return simple.get(arrow_type, str(arrow_type))


def _footer_columns(file_format: str, data: _RangedObject) -> list[tuple[str, str]]:
    """``[(column, athena_type), ...]`` of a Parquet or ORC file, read from its footer only."""
    if file_format == "Parquet":
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(data).schema
        return [
            (column_name(c.path), parquet_type(c.physical_type, c.logical_type.type) or c.physical_type)
            for c in schema
        ]
    import pyarrow.orc as orc

    return [(column_name(f.name), _arrow_athena_type(f.type)) for f in orc.ORCFile(data).schema]


def _csv_first_line(data: _RangedObject) -> bytes | None:
    """The first line of a gzip'd CSV file, decompressed from as few leading bytes as it takes (the
    first KiB, then twice as much each time); None for a file with no text."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip only
    text, offset, step, pending = b"", 0, CSV_FIRST_READ, b""
    while True:
        if not pending:
            pending = data.read_range(offset, step)
            if not pending:
                break
            if offset == 0 and not pending.startswith(b"\x1f\x8b"):
                raise ValueError("it does not start with a gzip header")
            offset, step = offset + len(pending), step * 2
        text += inflate.decompress(pending, CSV_LINE_LIMIT - len(text))
        pending = inflate.unconsumed_tail
        if b"\n" in text or inflate.eof:
            break
        if len(text) >= CSV_LINE_LIMIT:
            raise ValueError(f"its first line is longer than {CSV_LINE_LIMIT} bytes")
    return text.split(b"\n", 1)[0] if text else None


def _check_csv(data: _RangedObject, expected: list[tuple[str, str]], what: str) -> None:
    line = _csv_first_line(data)
    if line is None:
        return  # a report with no rows: nothing to contradict the manifest
    fields = next(csv.reader([line.decode("utf-8")]))
    if len(fields) != len(expected):
        raise DataFileMismatch(
            f"{what}: its first line holds {len(fields)} fields, manifest.json's fileSchema lists "
            f"{len(expected)}"
        )


def _check_footer(data: _RangedObject, file_format: str, expected: list[tuple[str, str]], what: str) -> None:
    actual = _footer_columns(file_format, data)
    if actual != expected:
        raise DataFileMismatch(f"{what} is not what manifest.json says: {_difference(actual, expected)}")


# What reading a file that is not of its format raises: pyarrow's errors (ArrowInvalid is a ValueError,
# the ORC reader's an OSError), zlib's, a decode error, the csv module's.
_UNREADABLE = (ValueError, OSError, zlib.error, csv.Error)
_A_FILE = {"Parquet": "a Parquet file", "ORC": "an ORC file", "CSV": "a gzip-compressed CSV file"}


def check_file_formats(s3: Any, drop: DropRef, manifest: Manifest) -> None:
    """Each data file is a file of the manifest's format with the manifest's columns, read from its
    footer (Parquet, ORC) or its first line (CSV): a few KiB per file, whatever its size."""
    expected = list(manifest.columns)
    for f in manifest.files:
        data = _RangedObject(s3, drop.bucket, f.key, f.size)
        what = f"drop {drop.folder}: data file {drop.uri(f.key)}"
        try:
            if manifest.file_format == "CSV":
                _check_csv(data, expected, what)
            else:
                _check_footer(data, manifest.file_format, expected, what)
        except DataFileMismatch:
            raise
        except _UNREADABLE as exc:
            if data.failure is not None and not isinstance(data.failure, _OverLimit):
                raise data.failure from None  # S3 failed, not the file (the ORC reader wraps it)
            reason = data.failure or exc
            raise DataFileMismatch(f"{what} is not {_A_FILE[manifest.file_format]}: {reason}") from None


def _difference(actual: list[tuple[str, str]], expected: list[tuple[str, str]]) -> str:
    for i, (have, want) in enumerate(zip(actual, expected, strict=False), 1):
        if have != want:
            return f"its column {i} is {have[0]} {have[1]}, the fileSchema's is {want[0]} {want[1]}"
    return f"it holds {len(actual)} columns, the fileSchema lists {len(expected)}"


def check_symlink(s3: Any, drop: DropRef, manifest: Manifest) -> None:
    raw = _get(s3, drop, drop.symlink_key, MissingSymlink, "symlink file", SYMLINK_LIMIT)
    listed = [line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    expected = {drop.uri(f.key) for f in manifest.files}
    extra = sorted(set(listed) - expected)
    absent = sorted(expected - set(listed))
    dupes = len(listed) != len(set(listed))
    if extra or absent or dupes:
        parts = []
        if absent:
            parts.append(f"lacks {len(absent)} file(s) of the manifest, e.g. {absent[0]}")
        if extra:
            parts.append(f"lists {len(extra)} file(s) not in the manifest, e.g. {extra[0]}")
        if dupes:
            parts.append("lists a file twice")
        raise SymlinkMismatch(f"drop {drop.folder}: {drop.uri(drop.symlink_key)} " + "; ".join(parts))


def check_schema(
    drop: DropRef,
    columns: tuple[tuple[str, str], ...],
    table_columns: list[tuple[str, str]] | None,
    file_format: str,
) -> tuple[tuple[str, str], ...]:
    """Compare the drop's columns with the table's; return the columns the table must gain.

    A column the table has with another type is drift. A column the table lacks is a field the
    configuration gained: the table evolves (columns are added at its end). For CSV, read by
    position, the shared columns must keep the table's order and new fields must come last.
    A column the drop lacks (an older drop, or a field removed) reads as NULL.
    """
    if table_columns is None:
        return ()
    where = f"drop {drop.folder}: {drop.uri(drop.manifest_key)}"
    known = dict(table_columns)
    for name, ctype in columns:
        if name in known and known[name].lower() != ctype.lower():
            raise SchemaDrift(
                f"{where} declares column {name!r} as {ctype}, the table has it as {known[name]}"
            )
    new = tuple(c for c in columns if c[0] not in known)
    if file_format == "CSV":
        names = [n for n, _ in columns]
        expected = [n for n, _ in table_columns if n in names] + [n for n, _ in new]
        if names != expected:
            raise SchemaDrift(
                f"{where} lists CSV fields in the order {', '.join(names)}; the table reads them by position "
                f"as {', '.join(expected)}"
            )
    return new


def validate_drop(
    s3: Any,
    inv: InventoryConfig,
    drop: DropRef,
    table_columns: list[tuple[str, str]] | None = None,
) -> ValidDrop:
    """Run every check on ``drop``; raise the first :class:`DropValidationError` found."""
    checksum_raw = _get(s3, drop, drop.checksum_key, DropValidationError, "manifest checksum", CHECKSUM_LIMIT)
    manifest_raw = _get(s3, drop, drop.manifest_key, DropValidationError, "manifest", MANIFEST_LIMIT)
    check_checksum(drop, manifest_raw, checksum_raw)
    try:
        manifest = parse_manifest(manifest_raw, drop.uri(drop.manifest_key))
    except ManifestError as exc:
        raise BadManifest(str(exc)) from None
    if manifest.file_format != inv.format:
        raise WrongFormat(
            f"drop {drop.folder}: {drop.uri(drop.manifest_key)} is a {manifest.file_format} report; "
            f"inventory {inv.name!r} is configured as {inv.format}"
        )
    check_buckets(inv, drop, manifest)
    check_data_files(s3, drop, manifest)
    check_file_formats(s3, drop, manifest)
    check_symlink(s3, drop, manifest)
    new = check_schema(drop, manifest.columns, table_columns, manifest.file_format)
    return ValidDrop(drop, manifest, new)
