"""A day of the curated table: the full snapshot of the activities Strava lists for that UTC day.

A snapshot is deterministic: the day's activities in a fixed order (start time, then id) become the
same Parquet bytes every time (Snappy, row groups of a fixed number of rows), read from the run's
listing one activity, or one row group, at a time. Its **digest** is a SHA-256 over the snapshot
format (:data:`FORMAT` and the table's schema) and each activity's JSON with its keys sorted: every field
Strava sent counts, so an edit of a field the table does not hold still rewrites the day (and the raw
layer keeps the answer that carried it). The digest is stored in the day's object metadata
(``x-amz-meta-strava-digest``) with the raw listing it came from (``x-amz-meta-strava-listing``).

Against what is stored, a day is:

- **unchanged**: the same digest, or no activity and no object. Nothing is written (same object, same
  ETag), which is what makes a quiet day free;
- **rewritten**: one ``PutObject`` of the new snapshot (S3 shows an object whole or not at all, so a
  reader sees the old day or the new one, never a mix);
- **emptied**: its activities are all gone (deleted in Strava, or moved to another day): the object is
  deleted. The day's partition stays registered and reads as no rows.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

import pyarrow.parquet as pq

from datalake.strava.layout import DIGEST_METADATA, LISTING_METADATA, curated_key
from datalake.strava.schema import SCHEMA, to_record_batch, to_row

# Changing what a snapshot holds or how it is written changes this, so every day is rewritten once.
FORMAT = "strava-day-snapshot/1"
CONTENT_TYPE = "application/vnd.apache.parquet"
ROW_GROUP_ROWS = 10_000  # rows per Parquet row group: the bound on the rows a day holds in memory


class Change(Enum):
    UNCHANGED = "unchanged"
    REWRITTEN = "rewritten"
    EMPTIED = "emptied"


@dataclass(frozen=True)
class DaySnapshot:
    """One day's snapshot: its digest and size, and where to read its activities again (in order)."""

    day: date
    rows: int
    digest: str
    activities: Callable[[], Iterable[dict[str, Any]]] = field(repr=False)


def _canonical(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def snapshot(day: date, activities: Callable[[], Iterable[dict[str, Any]]]) -> DaySnapshot:
    """The snapshot of ``day``; ``activities()`` gives the day's activities in the day's order (start
    time, then id: :meth:`datalake.strava.listing.Listing.by_day`), afresh at each call. One pass, one
    activity in memory at a time."""
    digest = hashlib.sha256(f"{FORMAT}\n{SCHEMA}\n".encode())
    rows = 0
    for activity in activities():
        digest.update(_canonical(activity))
        digest.update(b"\n")
        rows += 1
    return DaySnapshot(day, rows, digest.hexdigest(), activities)


def to_parquet(day: DaySnapshot, *, row_group_rows: int = ROW_GROUP_ROWS) -> bytes:
    """The snapshot as Parquet bytes (the same bytes for the same snapshot): row groups of
    ``row_group_rows``, the bound on the rows held in memory."""
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, SCHEMA, compression="snappy") as writer:
        batch: list[dict[str, Any]] = []
        for activity in day.activities():
            batch.append(to_row(activity))
            if len(batch) == row_group_rows:
                writer.write_batch(to_record_batch(batch), row_group_size=row_group_rows)
                batch = []
        if batch:
            writer.write_batch(to_record_batch(batch), row_group_size=row_group_rows)
    return buffer.getvalue()


def stored_digest(s3: Any, bucket: str, day: date) -> str | None:
    """The digest of the day's stored snapshot; ``""`` for an object written without one, None when
    the day has no object."""
    try:
        head = s3.head_object(Bucket=bucket, Key=curated_key(day))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get(DIGEST_METADATA, "")


def change_of(day: DaySnapshot, stored: str | None) -> Change:
    """What writing ``day`` over the stored snapshot (its digest, see :func:`stored_digest`) changes."""
    if not day.rows:
        return Change.UNCHANGED if stored is None else Change.EMPTIED
    return Change.UNCHANGED if stored == day.digest else Change.REWRITTEN


def write(s3: Any, bucket: str, day: DaySnapshot, change: Change, *, listing_key: str) -> None:
    """Make the stored day what ``change`` says (from :func:`change_of`)."""
    key = curated_key(day.day)
    if change is Change.REWRITTEN:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=to_parquet(day),
            ContentType=CONTENT_TYPE,
            Metadata={DIGEST_METADATA: day.digest, LISTING_METADATA: listing_key},
        )
    elif change is Change.EMPTIED:
        s3.delete_object(Bucket=bucket, Key=key)
