"""A day of the curated table: the full snapshot of the activities Strava lists for that UTC day.

A snapshot is deterministic: the day's activities in a fixed order (start time, then id) become the
same Parquet bytes every time, one row group, Snappy. Its **digest** is a SHA-256 over the snapshot
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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.strava.layout import DIGEST_METADATA, LISTING_METADATA, curated_key
from datalake.strava.schema import SCHEMA, to_record_batch, to_row

# Changing what a snapshot holds or how it is written changes this, so every day is rewritten once.
FORMAT = "strava-day-snapshot/1"
CONTENT_TYPE = "application/vnd.apache.parquet"


class Change(Enum):
    UNCHANGED = "unchanged"
    REWRITTEN = "rewritten"
    EMPTIED = "emptied"


@dataclass(frozen=True)
class DaySnapshot:
    day: date
    activities: list[dict[str, Any]]  # in the day's order
    digest: str

    @property
    def rows(self) -> int:
        return len(self.activities)


def _canonical(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def snapshot(day: date, activities: Iterable[dict[str, Any]]) -> DaySnapshot:
    """The snapshot of ``day`` holding ``activities`` (in any order; they are put in the day's)."""
    ordered = sorted(activities, key=lambda a: (to_row(a)["start_date"], a["id"]))
    digest = hashlib.sha256(f"{FORMAT}\n{SCHEMA}\n".encode())
    for activity in ordered:
        digest.update(_canonical(activity))
        digest.update(b"\n")
    return DaySnapshot(day, ordered, digest.hexdigest())


def to_parquet(day: DaySnapshot) -> bytes:
    """The snapshot as Parquet bytes (the same bytes for the same snapshot)."""
    table = pa.Table.from_batches([to_record_batch([to_row(a) for a in day.activities])], schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy", row_group_size=max(1, table.num_rows))
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
    if not day.activities:
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
