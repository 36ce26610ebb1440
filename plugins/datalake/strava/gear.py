"""The gear table: a name for every gear id the activities use, fetched once and refreshed rarely.

``GET /gear/{id}`` answers a gear's name, brand, model and Strava's distance. A run fetches a gear id the
table does not hold yet, and one fetched :data:`REFRESH_DAYS` days ago or more (``strava.gear_refresh_days``:
a rename or a retirement shows within a month; the report's distance per gear is summed from the
activities, not Strava's total, so it is never stale). A gear Strava no longer has (deleted, or sold and
removed) keeps its last row. One Parquet object, rows by id, written only when it changes; each answer
also goes to the raw layer under the day it was fetched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from datalake.strava import encoding
from datalake.strava.client import StravaClient
from datalake.strava.detail_schema import GEAR
from datalake.strava.layout import GEAR_KEY, gear_raw_key
from datalake.strava.schema import to_row

log = logging.getLogger(__name__)

REFRESH_DAYS = 30
GEAR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CONTENT_TYPE = "application/vnd.apache.parquet"


def read(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """The gear table's rows by gear id (empty when there is none)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=GEAR_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    return {row["gear_id"]: row for row in encoding.read_parquet(body)}


def due(
    held: dict[str, dict[str, Any]], gear_ids: Iterable[str], today: date, refresh_days: int
) -> list[str]:
    """The gear ids to fetch: new ones, then those fetched ``refresh_days`` ago or more, each by id."""
    wanted = sorted({g for g in gear_ids if g})
    bad = [g for g in wanted if not GEAR_ID.fullmatch(g)]
    if bad:
        raise ValueError(f"Strava gear ids must be letters and digits: {bad[:3]!r}")
    new = [g for g in wanted if g not in held]
    stale = [
        g
        for g in wanted
        if g in held and date.fromisoformat(held[g]["fetched_on"]) <= today - timedelta(days=refresh_days)
    ]
    return new + stale


def fetch(
    client: StravaClient, s3: Any, bucket: str, gear_ids: list[str], today: date
) -> dict[str, dict[str, Any]]:
    """Fetch ``gear_ids`` (one call each), each answer kept in the raw layer; rows of the gear Strava has."""
    rows = {}
    for gear_id in gear_ids:
        found = client.gear(gear_id)
        if found is None:
            log.info("Strava has no gear %s any more: its row stays as last fetched", gear_id)
            continue
        s3.put_object(
            Bucket=bucket,
            Key=gear_raw_key(today, gear_id),
            Body=encoding.gzip_json(found),
            ContentType=encoding.GZIP,
        )
        rows[gear_id] = to_row(
            {**found, "id": gear_id, "fetched_on": today.isoformat()}, GEAR.columns, what=f"gear {gear_id}"
        )
    return rows


def to_parquet(rows: dict[str, dict[str, Any]]) -> bytes:
    return encoding.parquet([rows[g] for g in sorted(rows)], GEAR.columns, GEAR.schema)


def write(s3: Any, bucket: str, rows: dict[str, dict[str, Any]]) -> None:
    s3.put_object(Bucket=bucket, Key=GEAR_KEY, Body=to_parquet(rows), ContentType=CONTENT_TYPE)


def sync(
    client: StravaClient,
    s3: Any,
    bucket: str,
    gear_ids: Iterable[str],
    *,
    today: date,
    refresh_days: int,
    allowance: int,
) -> tuple[int, int]:
    """Fetch what is due of ``gear_ids`` (at most ``allowance`` calls) and store the table when it
    changed. Returns (calls made, gear ids still due)."""
    held = read(s3, bucket)
    wanted = due(held, gear_ids, today, refresh_days)
    calls = wanted[:allowance]
    if not calls:
        return 0, len(wanted)
    fetched = fetch(client, s3, bucket, calls, today)
    merged = {**held, **fetched}
    if merged != held:
        write(s3, bucket, merged)
    return len(calls), len(wanted) - len(calls)
