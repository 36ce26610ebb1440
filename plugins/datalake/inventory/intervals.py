"""Which drop belongs to which scheduled interval, and when waiting for it gives up.

The rule: a drop dated D (its ``D T HH-MMZ`` folder) lists the source bucket as of day D. A daily
interval ``[D-1 00:00, D 00:00)`` UTC takes the drop dated D, the date of the interval's end; a
weekly interval (ending Sunday 00:00 UTC) takes the newest drop dated in the seven days that end on
that Sunday. The drop arrives after the interval ends (often around 01:00, sometimes many hours later);
the wait gives up ``wait_timeout_hours`` after the interval's end.

A configuration with an ``events_queue_url`` is scheduled on its queue too (:func:`schedule`): a run
the queue's messages start has no interval; it takes the drops the messages announce.

The DAG file uses :func:`schedule` at parse time; the layout module is imported only by the function
that lists drops, when a task runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from datalake.config import InventoryConfig

if TYPE_CHECKING:
    from datalake.inventory.layout import DropRef

SCHEDULES = {"daily": "0 0 * * *", "weekly": "0 0 * * 0"}


def cron(inv: InventoryConfig) -> str:
    return SCHEDULES[inv.frequency]


def schedule(inv: InventoryConfig) -> Any:
    """The DAG's schedule: its intervals, or (with ``events_queue_url``) its intervals or its queue."""
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(cron(inv), timezone="UTC")
    if inv.events_queue_url is None:
        return timetable
    from datalake.events import queue_asset

    return AssetOrTimeSchedule(timetable=timetable, assets=[queue_asset(inv.events_queue_url)])


def drop_days(inv: InventoryConfig, interval_end: datetime | date) -> list[date]:
    """The drop dates an interval ending at ``interval_end`` accepts, newest first."""
    end = interval_end.date() if isinstance(interval_end, datetime) else interval_end
    span = 7 if inv.frequency == "weekly" else 1
    return [end - timedelta(days=i) for i in range(span)]


def deadline(inv: InventoryConfig, interval_end: datetime) -> datetime:
    return interval_end + timedelta(hours=inv.wait_timeout_hours)


def find_drop(s3: Any, inv: InventoryConfig, interval_end: datetime | date) -> DropRef | None:
    """The complete drop of the interval (the newest, if a day holds several), or None.

    One LIST call per accepted day: the cost does not grow with the history.
    """
    from datalake.inventory.layout import complete_drops

    for day in drop_days(inv, interval_end):
        drops = complete_drops(s3, inv.destination_bucket, inv.base_prefix, day)
        if drops:
            return drops[-1]
    return None


def interval_ends(inv: InventoryConfig, first: date, last: date) -> list[date]:
    """The interval end dates from ``first`` to ``last`` inclusive (every day, or every Sunday)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if inv.frequency == "weekly":
        days = [d for d in days if d.weekday() == 6]
    return days
