"""One extraction: list a window of days once, then rewrite the day snapshots Strava changed.

For a window of whole UTC days (:mod:`datalake.strava.window`; a scheduled run's, or any days to
re-reconcile, :meth:`Window.covering`):

1. one paging pass over the activities that started in it (``after``/``before``, ``per_page=200``, until
   an empty page), spooled to a local file (:mod:`datalake.strava.listing`): memory is bounded by one
   page and one Parquet row group, not by the window or a day;
2. each day's snapshot (:mod:`datalake.strava.snapshots`) against the digest stored with the day's
   object (one ``HeadObject`` per day): the days that changed;
3. when a day changed, the listing as Strava returned it goes to the raw layer first (gzipped JSON lines,
   :func:`datalake.strava.layout.raw_key`), then each changed day is rewritten (or deleted, when none of
   its activities is left). A run that changes nothing writes nothing at all: what Strava returned is
   then, activity for activity, what earlier listings in the raw layer hold already;
4. with ``strava.details``, the detailed views of the window's new and changed activities, within the
   rate budget, and the backlog earlier runs left (:mod:`datalake.strava.details`).

A failure part-way leaves every day either as it was or rewritten whole; a retry lists again and
writes the rest. Two extractions must not overlap (the DAG runs one at a time): each writes the days as
it listed them, so the later listing must also be the later write.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from datalake.strava.client import PER_PAGE, StravaClient
from datalake.strava.details import DetailOptions, listed_of, sync_details
from datalake.strava.layout import raw_key
from datalake.strava.listing import Listing, list_window
from datalake.strava.snapshots import Change, DaySnapshot, change_of, snapshot, stored_digest, write
from datalake.strava.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractResult:
    """What one extraction did (the task's XCom: counts, days and keys, nothing secret)."""

    first_day: str
    last_day: str
    days: list[str]  # the days rewritten or emptied, ascending
    rows_by_day: dict[str, int]  # every day of the window: its activities now
    rows: int  # activities of the window now
    pages: int
    api_calls: int
    duplicates_skipped: int
    outside_window_skipped: int
    raw_key: str | None  # the listing kept in the raw layer, when a day changed
    details: dict[str, Any] | None = None  # with strava.details: what the details step did (pending, ...)
    # the ids the listing showed (what a run started by push events checks its events against); not XCom
    listed_ids: frozenset[int] = field(default=frozenset(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        del found["listed_ids"]
        return found


def _changes(listing: Listing, s3: Any, bucket: str) -> dict[date, tuple[DaySnapshot, Change]]:
    """Every day of the window: its new snapshot and what writing it changes. A snapshot holds its
    digest and where its activities are in the spool, not the activities."""
    present = listing.by_day()
    found = {}
    for day in listing.window.days:
        entries = present.get(day, [])
        day_snapshot = snapshot(day, lambda entries=entries: listing.activities(entries))
        found[day] = (day_snapshot, change_of(day_snapshot, stored_digest(s3, bucket, day)))
    return found


def _publish_raw(s3: Any, bucket: str, listing: Listing, key: str, tmp: Path) -> None:
    gz_path = tmp / "listing.jsonl.gz"
    with (
        open(listing.path, "rb") as spool,
        open(gz_path, "wb") as out,
        # no name and mtime 0 in the header: the same listing gives the same bytes
        gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz,
    ):
        shutil.copyfileobj(spool, gz, 1 << 20)
    s3.upload_file(str(gz_path), bucket, key, ExtraArgs={"ContentType": "application/gzip"})


def extract_window(
    client: StravaClient,
    s3: Any,
    bucket: str,
    window: Window,
    *,
    run_label: str,
    per_page: int = PER_PAGE,
    details: DetailOptions | None = None,
) -> ExtractResult:
    """Reconcile ``window`` with what Strava lists now (see the module doc); ``run_label`` names the
    run in the raw layer (:func:`datalake.strava.layout.run_label`). With ``details``, then fetch the
    detailed views of the new and changed activities (:mod:`datalake.strava.details`)."""
    details_result = None
    with tempfile.TemporaryDirectory(prefix="strava-extract-") as tmp:
        listing = list_window(client, window, Path(tmp) / "listing.jsonl", per_page=per_page)
        changes = _changes(listing, s3, bucket)
        changed = [day for day, (_snapshot, change) in changes.items() if change is not Change.UNCHANGED]
        key = raw_key(run_label, listing.digest) if changed else None
        if key is not None:
            _publish_raw(s3, bucket, listing, key, Path(tmp))
            for day in changed:
                write(s3, bucket, *changes[day], listing_key=key)
        if details is not None:
            by_day = listing.by_day()
            listed = {day: listed_of(listing.activities(by_day.get(day, []))) for day in window.days}
            details_result = sync_details(client, s3, bucket, listed, details)
    rows_by_day = {day.isoformat(): day_snapshot.rows for day, (day_snapshot, _change) in changes.items()}
    result = ExtractResult(
        first_day=window.first.isoformat(),
        last_day=window.last.isoformat(),
        days=[day.isoformat() for day in changed],
        rows_by_day=rows_by_day,
        rows=sum(rows_by_day.values()),
        pages=listing.pages,
        api_calls=client.calls,
        duplicates_skipped=listing.duplicates,
        outside_window_skipped=listing.outside,
        raw_key=key,
        details=None if details_result is None else details_result.as_dict(),
        listed_ids=frozenset(listing.ids),
    )
    log.info(
        "Strava %s: %d activities in %d pages (%d API calls); %s",
        window,
        result.rows,
        result.pages,
        result.api_calls,
        f"rewrote {', '.join(result.days)}; the listing is s3://{bucket}/{key}"
        if key
        else "no day changed, nothing written",
    )
    return result


# Days this close together are listed in one pass: the days between cost list calls only past 200
# activities (a page), and a second pass costs its own empty page.
MERGE_GAP_DAYS = 7


def windows_of(days: Iterable[date], *, merge_gap_days: int = MERGE_GAP_DAYS) -> list[Window]:
    """The fewest windows that hold ``days``: days at most ``merge_gap_days`` apart share one."""
    windows: list[Window] = []
    for day in sorted(set(days)):
        if windows and (day - windows[-1].last) <= timedelta(days=merge_gap_days):
            windows[-1] = Window(windows[-1].first, day)
        else:
            windows.append(Window(day, day))
    return windows
