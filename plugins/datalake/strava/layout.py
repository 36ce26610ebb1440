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


# -- detailed activities (strava.details), see datalake.strava.details ---------------------------------
# Raw: each DetailedActivity as Strava returned it, named by its day, id and the summary's fingerprint:
#     s3://<lake>/raw/strava/activity_details/dt=YYYY-MM-DD/<id>-<fingerprint>.json.gz
# Curated: one Parquet object per day and detail table, and one per activity's streams:
#     s3://<lake>/curated/strava/<table>/dt=YYYY-MM-DD/<table>.parquet
#     s3://<lake>/curated/strava/activity_streams/dt=YYYY-MM-DD/<id>-<fingerprint>.parquet
# The gear, one object: s3://<lake>/curated/strava/gear/gear.parquet
#     (raw: s3://<lake>/raw/strava/gear/fetched=YYYY-MM-DD/<id>.json.gz)
# The backlog of details still to fetch: s3://<lake>/state/strava/details-backlog.json
DETAILS_RAW_PREFIX = "raw/strava/activity_details"
GEAR_RAW_PREFIX = "raw/strava/gear"
CURATED_ROOT = "curated/strava"
# the detail tables, each the name of its Athena table and of its folder under curated/strava/
DAY_TABLE_NAMES = ("activity_details", "activity_laps", "activity_splits", "activity_best_efforts")
GEAR_TABLE = "gear"
STREAMS_TABLE = "activity_streams"
GEAR_KEY = f"{CURATED_ROOT}/{GEAR_TABLE}/gear.parquet"
BACKLOG_KEY = "state/strava/details-backlog.json"
DETAILS_DIGEST_METADATA = "strava-details-digest"

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_GEAR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def detail_raw_prefix(day: date) -> str:
    return f"{DETAILS_RAW_PREFIX}/dt={partition(day)}/"


def _file_stem(activity_id: int, fingerprint: str) -> str:
    """``<id>-<fingerprint>``, the name of an activity's raw detail and of its stream file."""
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise ValueError(f"a detail fingerprint is 16 hex digits, got {fingerprint!r}")
    return f"{int(activity_id)}-{fingerprint}"


def detail_raw_key(day: date, activity_id: int, fingerprint: str) -> str:
    """The raw DetailedActivity of ``activity_id`` as fetched for the summary ``fingerprint``."""
    return f"{detail_raw_prefix(day)}{_file_stem(activity_id, fingerprint)}.json.gz"


def parse_detail_name(name: str) -> tuple[int, str] | None:
    """(id, fingerprint) of a raw detail's or a stream file's name; None for any other name."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    activity_id, _, fingerprint = stem.partition("-")
    if not activity_id.isdigit() or not _FINGERPRINT.fullmatch(fingerprint):
        return None
    return int(activity_id), fingerprint


def table_prefix(table: str) -> str:
    return f"{CURATED_ROOT}/{table}/"


def day_table_key(table: str, day: date) -> str:
    """A detail table's object of ``day``."""
    return f"{table_prefix(table)}dt={partition(day)}/{table}.parquet"


def stream_prefix(day: date) -> str:
    return f"{table_prefix(STREAMS_TABLE)}dt={partition(day)}/"


def stream_key(day: date, activity_id: int, fingerprint: str) -> str:
    return f"{stream_prefix(day)}{_file_stem(activity_id, fingerprint)}.parquet"


def gear_raw_key(fetched_on: date, gear_id: str) -> str:
    if not _GEAR_ID.fullmatch(gear_id):
        raise ValueError(f"a Strava gear id is letters and digits, got {gear_id!r}")
    return f"{GEAR_RAW_PREFIX}/fetched={partition(fetched_on)}/{gear_id}.json.gz"


def table_location(bucket: str, table: str) -> str:
    """A detail table's Athena LOCATION."""
    return f"s3://{bucket}/{table_prefix(table)}"
