"""Check a drop before Athena can see it: each problem gets its own error, naming the object at fault.

The checks, in order: ``manifest.checksum`` is the MD5 of ``manifest.json``; the manifest is well
formed (every field of its type), of the configured format and for the configured source and
destination buckets; every data file it lists exists with the listed size (and, for single-part
uploads, the listed MD5); the ``symlink.txt`` of the drop lists exactly those files; the manifest's
columns fit the table. Nothing here writes anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from datalake.config import InventoryConfig
from datalake.inventory.layout import DropRef
from datalake.inventory.manifest import Manifest, ManifestError, parse_manifest

# Reads of a drop's small objects are capped: anything larger is not what its name says, and would be
# read into the worker's memory. A manifest holds about 200 bytes per data file, so 16 MiB is about
# 80,000 data files (a drop has a handful to a few thousand); symlink.txt lists the same files, one
# s3:// URI (about 120 bytes) a line; manifest.checksum is 32 hex digits and a newline.
MANIFEST_LIMIT = 16 * 1024 * 1024
SYMLINK_LIMIT = 16 * 1024 * 1024
CHECKSUM_LIMIT = 1024


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
    check_symlink(s3, drop, manifest)
    new = check_schema(drop, manifest.columns, table_columns, manifest.file_format)
    return ValidDrop(drop, manifest, new)
