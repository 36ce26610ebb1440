"""Strava's push events, as the webhook Lambda queued them: what a run started by the queue must do.

Each SQS message body is one event as Strava POSTed it (``include/strava_webhook/handler.py`` checked
and forwarded it): ``object_type`` (``activity`` or ``athlete``), ``aspect_type`` (``create``,
``update``, ``delete``), ``object_id``, ``owner_id``, ``event_time`` and ``updates``. Events carry ids
only, so a run re-reconciles the days they touch with the daily run's own code (a listing of those
days, day snapshots, the same serialisation):

- ``activity`` ``delete``: the day is looked up in the lake (Strava answers 404 for a deleted activity);
- ``activity`` ``update``: the same lookup (the activity is in the lake unless it is newer than the
  last run);
- ``activity`` ``create``, and an update the lake does not hold: the activity is new, and nearly always
  recent: the run lists the last ``strava.reconcile_days`` days up to now, which costs the 2 list calls
  of a daily run however many events came together. An id that listing does not show (a file uploaded
  with an old start time) is fetched (one call) to find its day, which is then listed too;
- ``athlete`` ``update`` with ``updates.authorized == "false"``: the athlete revoked the app
  (:mod:`datalake.strava.authorisation`).

A body that is no such event is named in the log and ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any

from datalake.strava.client import StravaClient
from datalake.strava.details import DetailOptions
from datalake.strava.extract import extract_window, windows_of
from datalake.strava.schema import to_row
from datalake.strava.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushEvent:
    object_type: str
    aspect_type: str
    object_id: int
    owner_id: int
    event_time: int | None
    updates: dict[str, Any]

    @property
    def deauthorises(self) -> bool:
        return (
            self.object_type == "athlete"
            and self.aspect_type == "update"
            and str(self.updates.get("authorized", "")).lower() == "false"
        )


@dataclass
class PushBatch:
    """The events of one run, sorted by what they ask for (ids in the order they first came)."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    deauthorisations: list[PushEvent] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # one line each: which message, and why

    @property
    def activity_ids(self) -> list[int]:
        return list(dict.fromkeys(self.created + self.updated + self.deleted))

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "deleted": len(self.deleted),
            "deauthorisations": len(self.deauthorisations),
            "ignored": len(self.ignored),
        }


def parse_event(body: str) -> PushEvent:
    """The event in a message body; ``ValueError`` naming the field at fault."""
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the body is not a JSON object")
    object_type, aspect_type = document.get("object_type"), document.get("aspect_type")
    if object_type not in ("activity", "athlete"):
        raise ValueError(f"object_type {object_type!r} is neither activity nor athlete")
    if aspect_type not in ("create", "update", "delete"):
        raise ValueError(f"aspect_type {aspect_type!r} is not create, update or delete")
    ids = {}
    for name in ("object_id", "owner_id"):
        value = document.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} {value!r} is no positive integer")
        ids[name] = value
    updates = document.get("updates") or {}
    if not isinstance(updates, dict):
        raise ValueError("updates is not a JSON object")
    event_time = document.get("event_time")
    return PushEvent(
        object_type,
        aspect_type,
        ids["object_id"],
        ids["owner_id"],
        event_time if isinstance(event_time, int) else None,
        updates,
    )


def sort_events(messages: Iterable[Any]) -> PushBatch:
    """Sort the run's queue messages (:class:`datalake.events.QueueMessage`) into a :class:`PushBatch`.

    An activity created and deleted in one batch stays in both lists: the recent days are listed for
    the upload, and the fetch of an id no listing shows answers 404 (the activity is then unplaced)."""
    batch = PushBatch()
    for message in messages:
        try:
            event = parse_event(message.body)
        except ValueError as exc:
            batch.ignored.append(f"message {message.message_id}: {exc}")
            continue
        if event.deauthorises:
            batch.deauthorisations.append(event)
        elif event.object_type == "athlete":
            batch.ignored.append(
                f"message {message.message_id}: an athlete {event.aspect_type} other than a deauthorisation"
            )
        else:
            {"create": batch.created, "update": batch.updated, "delete": batch.deleted}[
                event.aspect_type
            ].append(event.object_id)
    for line in batch.ignored:
        log.warning("Ignored a push event: %s", line)
    return batch


def recent_days(today: date, reconcile_days: int, first_allowed: date) -> Window:
    """The days a new activity is nearly always in: the last ``reconcile_days`` days up to ``today``."""
    return Window(max(today - timedelta(days=max(reconcile_days, 1) - 1), first_allowed), today)


def reconcile_pushed(
    batch: PushBatch,
    client: StravaClient,
    s3: Any,
    bucket: str,
    *,
    known_days: dict[int, date],
    recent: Window,
    first_allowed: date,
    run_label: str,
    details: DetailOptions | None = None,
) -> dict[str, Any]:
    """Re-reconcile the days ``batch`` touches (see the module doc) with the daily run's extraction.

    ``known_days`` is the lake's day of each event's activity that it holds
    (:func:`datalake.strava.lookup.activity_days`). Returns the run's XCom: the days rewritten, the days
    listed, what each listed day holds now, the API calls, and what the events were.
    """
    days = {day for day in known_days.values() if day >= first_allowed}
    to_place = list(dict.fromkeys(batch.created + batch.updated))
    if any(i not in known_days for i in to_place):
        days |= set(recent.days)
    results = [
        extract_window(client, s3, bucket, w, run_label=run_label, details=details) for w in windows_of(days)
    ]
    listed = frozenset().union(*(r.listed_ids for r in results))
    fetched, unplaced, more = 0, [], set()
    for activity_id in (i for i in to_place if i not in listed):
        # not in the days listed: new with an old start time, or moved to another day. One call finds it.
        activity = client.activity(activity_id)
        fetched += 1
        day = None if activity is None else to_row(activity)["start_date"].astimezone(UTC).date()
        if day is None or day < first_allowed:
            unplaced.append(activity_id)
            log.info(
                "Activity %s: %s",
                activity_id,
                "gone from Strava" if day is None else f"on {day}, before strava.start_date",
            )
        elif day not in days:
            more.add(day)
    results += [
        extract_window(client, s3, bucket, w, run_label=run_label, details=details) for w in windows_of(more)
    ]
    gone = [i for i in batch.deleted if i not in known_days]
    if gone:
        log.info("Deleted activities the lake never held (nothing to remove): %s", gone)
    rows_by_day: dict[str, int] = {}
    for result in results:
        rows_by_day.update(result.rows_by_day)
    return {
        "days": sorted({day for result in results for day in result.days}),
        "listed_days": sorted(rows_by_day),
        "rows_by_day": dict(sorted(rows_by_day.items())),
        "windows": [f"{r.first_day} to {r.last_day}" for r in results],
        "api_calls": client.calls,
        "fetched": fetched,
        "unplaced": unplaced,
        "raw_keys": [r.raw_key for r in results if r.raw_key],
        "details": [r.details for r in results if r.details is not None],
        "events": batch.counts(),
    }
