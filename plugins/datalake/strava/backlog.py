"""The backlog of detailed views still to fetch: days whose activities are not all fetched yet.

One small JSON object in the lake, ``s3://<lake>/state/strava/details-backlog.json``: for each such day,
its activities as the last listing of the day showed them, ``[[id, fingerprint], ...]`` in the day's
order. What is still to fetch of a day is what the raw layer does not hold yet (an activity's detail is
held under its day, id and fingerprint), so the backlog never disagrees with the lake: a retry after a
failure part-way fetches only what is still missing. A run drains it oldest day first, before the
window's own new activities; a day that a run lists again takes the new listing's activities (a deleted
activity leaves the backlog with its day). Written only when it changes, in a fixed form: the same
backlog gives the same bytes.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from datalake.strava.layout import BACKLOG_KEY

FORMAT = "strava-details-backlog/1"
Entries = list[tuple[int, str]]  # (id, fingerprint) in the day's order


def read(s3: Any, bucket: str) -> dict[date, Entries]:
    """The backlog's days (empty when there is none); ``ValueError`` naming the object when it is
    not one this code wrote."""
    try:
        body = s3.get_object(Bucket=bucket, Key=BACKLOG_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    try:
        document = json.loads(body)
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r}")
        return {
            date.fromisoformat(day): [(int(i), str(fp)) for i, fp in entries]
            for day, entries in document["days"].items()
        }
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"s3://{bucket}/{BACKLOG_KEY} is not a backlog of Strava details ({exc}): delete it, and "
            "clear the runs of the days whose details are missing"
        ) from None


def encode(days: dict[date, Entries]) -> bytes:
    document = {
        "format": FORMAT,
        "days": {day.isoformat(): [[i, fp] for i, fp in days[day]] for day in sorted(days)},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def write(s3: Any, bucket: str, days: dict[date, Entries], before: dict[date, Entries]) -> bool:
    """Store ``days`` as the backlog when it differs from ``before`` (the one read); True if written."""
    if days == before:
        return False
    if days:
        s3.put_object(Bucket=bucket, Key=BACKLOG_KEY, Body=encode(days), ContentType="application/json")
    else:
        s3.delete_object(Bucket=bucket, Key=BACKLOG_KEY)
    return True
