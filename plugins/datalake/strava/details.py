"""Detailed activities (``strava.details``): fetch each new or changed activity once, cut it into tables.

After a run's listing (:mod:`datalake.strava.extract`), for the days it listed:

1. **What to fetch.** Each listed activity has a fingerprint of the summary fields its detailed view
   depends on (:func:`datalake.strava.detail_schema.fingerprint`). Its ``GET /activities/{id}`` answer is
   kept in the raw layer under its day, id and that fingerprint
   (:func:`datalake.strava.layout.detail_raw_key`), so one ``ListObjectsV2`` per day says which
   activities are held: a new activity, or one whose fingerprint changed, is fetched; an unchanged one
   never is. With ``strava.streams``, its streams are fetched too (one more call), one Parquet file each.
2. **Within the budget.** Gear first (:mod:`datalake.strava.gear`), then the backlog's and the window's
   activities, oldest day first, as many as :class:`datalake.strava.budget.Budget` allows; the rest is
   the backlog (:mod:`datalake.strava.backlog`), which later runs drain. The log and the XCom say how
   many are pending and since which day.
3. **The day's tables.** For every day listed or drained, the day's fetched activities in the day's
   order make its ``activity_details``, ``activity_laps``, ``activity_splits`` and
   ``activity_best_efforts`` objects, with the same snapshot semantics as the activities: a digest over
   the day's (id, fingerprint) pairs, stored in the details object's metadata, decides whether the day
   is rewritten (an unchanged day writes nothing; a deleted activity's rows and streams go; a day with
   none left loses its objects). Carrying an unchanged activity over reads its raw answer again, no call.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from datalake.strava import backlog, encoding, gear
from datalake.strava.budget import Budget
from datalake.strava.client import StravaClient
from datalake.strava.detail_schema import (
    DAY_TABLES,
    DETAILS,
    STREAMS,
    fingerprint,
)
from datalake.strava.errors import StravaSchemaError
from datalake.strava.layout import (
    DETAILS_DIGEST_METADATA,
    day_table_key,
    detail_raw_key,
    detail_raw_prefix,
    parse_detail_name,
    stream_key,
    stream_prefix,
)
from datalake.strava.schema import to_row

log = logging.getLogger(__name__)

# Changing what a day's detail objects hold or how they are written changes this: every day is rewritten.
FORMAT = "strava-day-details/1"
CONTENT_TYPE = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class DetailOptions:
    """``strava.details`` and its keys: the budget share, the streams, the gear refresh, and today (the
    UTC day gear is fetched on)."""

    budget: Budget
    today: date
    streams: tuple[str, ...] = ()
    gear_refresh_days: int = gear.REFRESH_DAYS


@dataclass
class DetailsResult:
    """What the details step did (part of the extraction's XCom)."""

    allowance: int = 0
    fetched: int = 0  # detailed activities fetched
    streams_fetched: int = 0
    gear_fetched: int = 0
    gone: list[int] = field(default_factory=list)  # listed, but 404 when fetched (deleted meanwhile)
    pending: int = 0  # activities still to fetch, in the backlog
    gear_pending: int = 0
    oldest_pending: str | None = None
    days: list[str] = field(default_factory=list)  # days whose detail objects were rewritten or removed

    @property
    def api_calls(self) -> int:
        return self.fetched + self.streams_fetched + self.gear_fetched + len(self.gone)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "allowance": self.allowance,
            "fetched": self.fetched,
            "streams_fetched": self.streams_fetched,
            "gear_fetched": self.gear_fetched,
            "gone": self.gone,
            "pending": self.pending,
            "gear_pending": self.gear_pending,
            "oldest_pending": self.oldest_pending,
            "days": self.days,
        }


@dataclass(frozen=True, slots=True)
class Listed:
    """What the details step needs of a listed activity."""

    id: int
    fingerprint: str
    gear_id: str | None


def listed_of(activities: Iterable[dict[str, Any]]) -> list[Listed]:
    """The listed activities of a day (summaries, in the day's order), one small record each."""
    return [Listed(int(a["id"]), fingerprint(a), a.get("gear_id") or None) for a in activities]


def _held(s3: Any, bucket: str, prefix: str) -> set[tuple[int, str]]:
    """The (id, fingerprint) pairs named by the objects under ``prefix``."""
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            parsed = parse_detail_name(item["Key"])
            if parsed is not None:
                found.add(parsed)
    return found


def _rows_of(detailed: dict[str, Any], activity_id: int, fp: str) -> dict[str, list[dict[str, Any]]]:
    """The rows a DetailedActivity gives each day table (validated: a bad field names the activity)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in DAY_TABLES:
        if table.items is None:
            continue
        items = detailed.get(table.items) or []
        if not isinstance(items, list):
            raise StravaSchemaError(f"activity {activity_id}: field {table.items!r} should be a list")
        rows[table.name] = [
            to_row(
                {**item, "activity_id": activity_id, table.index: item.get(table.index, n)}
                if isinstance(item, dict) and table.index
                else item,
                table.columns,
                what=f"activity {activity_id} {table.items}[{n - 1}]",
            )
            for n, item in enumerate(items, start=1)
        ]
    counts = {f"{t.items}_count": len(rows[t.name]) for t in DAY_TABLES if t.items}
    rows[DETAILS.name] = [
        to_row(
            {**detailed, **counts, "activity_id": activity_id, "fingerprint": fp},
            DETAILS.columns,
            what=f"activity {activity_id}",
        )
    ]
    return rows


def stream_rows(streams: dict[str, Any], keys: Iterable[str], activity_id: int) -> list[dict[str, Any]]:
    """The points of an activity's streams (keyed by type), one row each, only the ``keys`` asked for."""
    wanted = {key: (streams.get(key) or {}).get("data") for key in keys}
    wanted = {key: data for key, data in wanted.items() if isinstance(data, list)}
    length = max((len(data) for data in wanted.values()), default=0)
    if any(len(data) != length for data in wanted.values()):
        raise ValueError(f"activity {activity_id}: its streams differ in length")
    return [
        to_row(
            {"activity_id": activity_id, "point": i, **{key: data[i] for key, data in wanted.items()}},
            STREAMS.columns,
            what=f"activity {activity_id} stream point {i}",
        )
        for i in range(length)
    ]


def _stored_digest(s3: Any, bucket: str, day: date) -> str | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=day_table_key(DETAILS.name, day))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get(DETAILS_DIGEST_METADATA, "")


def _digest(entries: backlog.Entries) -> str:
    digest = hashlib.sha256(f"{FORMAT}\n".encode())
    for table in DAY_TABLES:
        digest.update(f"{table.name}:{table.schema}\n".encode())
    for activity_id, fp in entries:
        digest.update(f"{activity_id}:{fp}\n".encode())
    return digest.hexdigest()


def _write_day(s3: Any, bucket: str, day: date, fetched: backlog.Entries) -> bool:
    """Make the day's detail objects those of ``fetched`` (its fetched activities in the day's order);
    True when they changed."""
    digest = _digest(fetched) if fetched else None
    stored = _stored_digest(s3, bucket, day)
    if stored == digest:
        return False
    if not fetched:
        for table in DAY_TABLES:
            s3.delete_object(Bucket=bucket, Key=day_table_key(table.name, day))
        return True
    rows: dict[str, list[dict[str, Any]]] = {table.name: [] for table in DAY_TABLES}
    for activity_id, fp in fetched:
        raw = s3.get_object(Bucket=bucket, Key=detail_raw_key(day, activity_id, fp))["Body"].read()
        for name, found in _rows_of(encoding.read_gzip_json(raw), activity_id, fp).items():
            rows[name].extend(found)
    # the details object last: its digest says the day is whole
    for table in (*DAY_TABLES[1:], DETAILS):
        s3.put_object(
            Bucket=bucket,
            Key=day_table_key(table.name, day),
            Body=encoding.parquet(rows[table.name], table.columns, table.schema),
            ContentType=CONTENT_TYPE,
            Metadata={DETAILS_DIGEST_METADATA: digest} if table is DETAILS else {},
        )
    return True


def _fetch_detail(client: StravaClient, s3: Any, bucket: str, day: date, activity_id: int, fp: str) -> bool:
    """Fetch an activity's detailed view and keep it raw; False when Strava has it no more."""
    found = client.activity(activity_id)
    if found is None:
        return False
    _rows_of(found, activity_id, fp)  # validates first: a bad field fails before anything is kept
    s3.put_object(
        Bucket=bucket,
        Key=detail_raw_key(day, activity_id, fp),
        Body=encoding.gzip_json(found),
        ContentType=encoding.GZIP,
    )
    return True


def _fetch_streams(
    client: StravaClient, s3: Any, bucket: str, day: date, activity_id: int, fp: str, keys: tuple[str, ...]
) -> bool:
    found = client.streams(activity_id, list(keys))
    if found is None:
        return False
    s3.put_object(
        Bucket=bucket,
        Key=stream_key(day, activity_id, fp),
        Body=encoding.parquet(stream_rows(found, keys, activity_id), STREAMS.columns, STREAMS.schema),
        ContentType=CONTENT_TYPE,
    )
    return True


def sync_details(
    client: StravaClient,
    s3: Any,
    bucket: str,
    listed: dict[date, list[Listed]],
    options: DetailOptions,
) -> DetailsResult:
    """The details step of a run (see the module doc). ``listed``: every day the run listed, each with
    its activities in the day's order (:func:`listed_of`; an empty list for a day with none)."""
    result = DetailsResult()
    before = backlog.read(s3, bucket)
    days: dict[date, backlog.Entries] = {day: entries for day, entries in before.items() if day not in listed}
    gear_ids: set[str] = set()
    for day, activities in listed.items():
        days[day] = [(a.id, a.fingerprint) for a in activities]
        gear_ids.update(a.gear_id for a in activities if a.gear_id)

    result.allowance = options.budget.allowance(client.limits)
    result.gear_fetched, result.gear_pending = gear.sync(
        client,
        s3,
        bucket,
        gear_ids,
        today=options.today,
        refresh_days=options.gear_refresh_days,
        allowance=result.allowance,
    )
    left = result.allowance - result.gear_fetched

    have: dict[date, set[tuple[int, str]]] = {}
    streams: dict[date, set[tuple[int, str]]] = {}
    work = []  # (day, id, fingerprint, needs its detail, needs its streams), oldest day first
    for day in sorted(days):
        have[day] = _held(s3, bucket, detail_raw_prefix(day))
        streams[day] = _held(s3, bucket, stream_prefix(day)) if options.streams else set()
        for entry in days[day]:
            need_detail = entry not in have[day]
            need_streams = bool(options.streams) and entry not in streams[day]
            if need_detail or need_streams:
                work.append((day, *entry, need_detail, need_streams))

    remaining = []
    for item in work:
        day, activity_id, fp, need_detail, need_streams = item
        cost = need_detail + need_streams
        if cost > left or remaining:  # in order: once one does not fit, the rest waits too
            remaining.append(item)
            continue
        left -= cost
        found = True
        if need_detail:
            found = _fetch_detail(client, s3, bucket, day, activity_id, fp)
            result.fetched += found
        if found and need_streams:
            found = _fetch_streams(client, s3, bucket, day, activity_id, fp, options.streams)
            result.streams_fetched += found
        if not found:  # deleted since the listing: the next listing of its day drops it
            result.gone.append(activity_id)
            days[day] = [e for e in days[day] if e != (activity_id, fp)]
            continue
        have[day].add((activity_id, fp))
        if need_streams:
            streams[day].add((activity_id, fp))

    for day in sorted(days):
        fetched = [e for e in days[day] if e in have[day]]
        if _write_day(s3, bucket, day, fetched):
            result.days.append(day.isoformat())
        if options.streams:  # a deleted activity's streams go, and those of a fingerprint before
            wanted = set(days[day])
            for activity_id, fp in sorted(streams[day] - wanted):
                s3.delete_object(Bucket=bucket, Key=stream_key(day, activity_id, fp))

    pending_days = {day for day, *_rest in remaining}
    backlog.write(s3, bucket, {day: days[day] for day in pending_days}, before)
    result.pending = len(remaining)
    result.oldest_pending = min(pending_days).isoformat() if pending_days else None
    log.info(
        "Strava details: %d fetched (%d streams, %d gear) of an allowance of %d calls; %s",
        result.fetched,
        result.streams_fetched,
        result.gear_fetched,
        result.allowance,
        f"{result.pending} pending in the backlog, the oldest of {result.oldest_pending}"
        if result.pending
        else "nothing pending",
    )
    return result
