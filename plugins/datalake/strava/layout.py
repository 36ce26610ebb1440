"""Where the Strava activities live in the lake: one place for the keys, cheap to import (DAG parse).

Curated, the Athena table: one Parquet object per UTC day that has activities, the day's full snapshot
(:mod:`datalake.strava.snapshots`)::

    s3://<lake>/curated/strava/activities/dt=YYYY-MM-DD/activities.parquet

Raw, what Strava returned: one gzipped JSON-lines object per run and listing, named by the run's data
interval and by the digest of what was listed (a run listed again after Strava changed keeps both)::

    s3://<lake>/raw/strava/activities/run=YYYYMMDDTHHMMSSZ/activities-<digest>.jsonl.gz
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

RAW_PREFIX = "raw/strava/activities"
CURATED_PREFIX = "curated/strava/activities"
PARQUET_NAME = "activities.parquet"
# the user metadata of a day's object (x-amz-meta-...): its snapshot's digest, and the listing it came from
DIGEST_METADATA = "strava-digest"
LISTING_METADATA = "strava-listing"

_LABEL = re.compile(r"\d{8}T\d{6}Z")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def partition(day: date) -> str:
    """The ``dt`` value of a day (a datetime stands for its UTC day)."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    return day.isoformat()


def curated_key(day: date) -> str:
    return f"{CURATED_PREFIX}/dt={partition(day)}/{PARQUET_NAME}"


def run_label(interval_start: datetime) -> str:
    """The name of a run in the raw layer: the start of its data interval, UTC."""
    return interval_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def raw_prefix(label: str) -> str:
    if not _LABEL.fullmatch(label):
        raise ValueError(f"a run label is YYYYMMDDTHHMMSSZ, got {label!r}")
    return f"{RAW_PREFIX}/run={label}/"


def raw_key(label: str, digest: str) -> str:
    """The raw object of a run's listing whose SHA-256 (hex) is ``digest``."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"a listing digest is 64 hex digits, got {digest!r}")
    return f"{raw_prefix(label)}activities-{digest[:16]}.jsonl.gz"


def curated_location(bucket: str) -> str:
    """The Athena table's LOCATION."""
    return f"s3://{bucket}/{CURATED_PREFIX}/"
