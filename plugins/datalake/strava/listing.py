"""One paging pass over the activities that started in a window, spooled to a local file.

Memory is bounded by one page plus a small index entry per activity, whatever the window holds:

- every item of every page is written to the spool as Strava sent it, one JSON line each, nothing
  dropped: the raw layer's record of the answers (:mod:`datalake.strava.extract` publishes it);
- each item is validated as it arrives (:func:`datalake.strava.schema.to_row`), so a bad field fails the
  listing before anything reaches the lake;
- the index keeps, per activity id, where its line is and its UTC day. An activity listed twice (pages
  shift when an activity is uploaded while the pages are read) counts once, as listed last; one that
  started outside the window (Strava filters on start time; this checks it) is counted, not indexed.

A deletion while the pages are read shifts the later items one place back, so one of them can miss this
pass: paging has no snapshot isolation. The next run lists the day again (a day looks wrong only until
then, and only when its deletion fell inside the seconds of one listing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path
from typing import Any

from datalake.strava.client import PER_PAGE, StravaClient
from datalake.strava.schema import to_row
from datalake.strava.window import Window


@dataclass(frozen=True, slots=True)
class Spooled:
    """Where one listed activity's line is in the spool, and what orders it within its day."""

    start: int  # epoch seconds
    id: int
    offset: int
    length: int


@dataclass
class Listing:
    """What one paging pass found (see the module doc); :meth:`activities` reads a day back."""

    path: Path
    window: Window
    digest: str = ""  # SHA-256 (hex) of the spool: what Strava returned, byte for byte as written
    pages: int = 0
    items: int = 0
    duplicates: int = 0
    outside: int = 0
    _latest: dict[int, tuple[date, Spooled]] = field(default_factory=dict, repr=False)

    @property
    def ids(self) -> set[int]:
        """The ids of the window's activities."""
        return set(self._latest)

    @property
    def activities_listed(self) -> int:
        """Distinct activities of the window."""
        return len(self._latest)

    def by_day(self) -> dict[date, list[Spooled]]:
        """Every day of the window that has activities, each in the day's order: start time, then id."""
        days: dict[date, list[Spooled]] = {}
        for day, spooled in self._latest.values():
            days.setdefault(day, []).append(spooled)
        for entries in days.values():
            entries.sort(key=lambda s: (s.start, s.id))
        return days

    def activities(self, entries: list[Spooled]) -> Iterator[dict[str, Any]]:
        """The activities of ``entries`` (from :meth:`by_day`), read back from the spool in that order."""
        with open(self.path, "rb") as spool:
            for spooled in entries:
                spool.seek(spooled.offset)
                yield json.loads(spool.read(spooled.length))


def list_window(client: StravaClient, window: Window, spool: Path, *, per_page: int = PER_PAGE) -> Listing:
    """List the activities that started in ``window`` in one paging pass into ``spool``."""
    listing = Listing(spool, window)
    digest = hashlib.sha256()
    with open(spool, "wb") as out:
        for page in client.activity_pages(after=window.after, before=window.before, per_page=per_page):
            listing.pages += 1
            for activity in page:
                row = to_row(activity)  # validates first: a bad field fails before anything is kept
                line = json.dumps(activity, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                offset = out.tell()
                out.write(line)
                digest.update(line)
                listing.items += 1
                day = row["start_date"].astimezone(UTC).date()
                if day not in window:
                    listing.outside += 1
                    listing._latest.pop(row["id"], None)  # listed last outside: it moved out
                    continue
                if row["id"] in listing._latest:
                    listing.duplicates += 1
                spooled = Spooled(int(row["start_date"].timestamp()), row["id"], offset, len(line))
                listing._latest[row["id"]] = (day, spooled)
    listing.digest = digest.hexdigest()
    return listing
