"""Where the Strava activities live in the lake: one place for the keys, cheap to import (DAG parse).

Raw: ``s3://<lake>/raw/strava/activities/dt=YYYY-MM-DD/activities.jsonl.gz`` (every field Strava sent).
Curated: ``s3://<lake>/curated/strava/activities/dt=YYYY-MM-DD/activities.parquet`` (the Athena table).
``dt`` is the UTC date of the data interval's start.
"""

from __future__ import annotations

from datetime import UTC, datetime

RAW_PREFIX = "raw/strava/activities"
CURATED_PREFIX = "curated/strava/activities"
TMP_PREFIX = "_tmp/strava/activities"  # outside every table location
RAW_NAME = "activities.jsonl.gz"
PARQUET_NAME = "activities.parquet"


def partition(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y-%m-%d")


def raw_key(start: datetime) -> str:
    return f"{RAW_PREFIX}/dt={partition(start)}/{RAW_NAME}"


def curated_key(start: datetime) -> str:
    return f"{CURATED_PREFIX}/dt={partition(start)}/{PARQUET_NAME}"


def curated_location(bucket: str) -> str:
    """The Athena table's LOCATION."""
    return f"s3://{bucket}/{CURATED_PREFIX}/"
