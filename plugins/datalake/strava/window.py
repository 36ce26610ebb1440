"""Which days a run of the Strava DAG lists and rewrites: its reconciliation window.

**A day** is the UTC calendar day of an activity's ``start_date``: the table's ``dt``.

**A run's window** is made of whole days. A run whose data interval ends at ``E`` lists the last day
that is over by ``E`` and the ``strava.reconcile_days - 1`` days before it: with the 04:00 UTC schedule
the run at 04:00 on day X+1 lists days X-6 to X (the default, 7), and the four hours after midnight are
a grace period for a watch that syncs in the morning. ``reconcile_days`` 0 turns reconciliation off: a
run lists only its own day, as 1 does. The window never starts before ``strava.start_date``; it is empty
only for a run whose last day is before it (a schedule more often than daily, on its first day).

A schedule more often than daily lists the same whole days again until the next UTC day is over.

Cheap to import: the DAG file registers the window's partitions from it at render time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

ONE_DAY = timedelta(days=1)


def day_of(moment: datetime) -> date:
    """The UTC day of a timezone-aware moment."""
    if moment.tzinfo is None:
        raise ValueError(f"a moment without a timezone has no UTC day: {moment.isoformat()}")
    return moment.astimezone(UTC).date()


def midnight(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """The whole UTC days from ``first`` to ``last``, both included (none when ``first > last``)."""

    first: date
    last: date

    @classmethod
    def covering(cls, days: Iterable[date]) -> Window:
        """The smallest window holding every one of ``days`` (one listing of them all)."""
        chosen = sorted(days)
        if not chosen:
            raise ValueError("a window covering no day is not a window")
        return cls(chosen[0], chosen[-1])

    @property
    def days(self) -> list[date]:
        return [self.first + ONE_DAY * i for i in range((self.last - self.first).days + 1)]

    @property
    def empty(self) -> bool:
        return self.first > self.last

    @property
    def after(self) -> int:
        """Strava's ``after`` (strict, epoch seconds) of the listing that starts at ``first`` 00:00."""
        return int(midnight(self.first).timestamp()) - 1

    @property
    def before(self) -> int:
        """Strava's ``before`` (strict, epoch seconds): the end of ``last``."""
        return int(midnight(self.last + ONE_DAY).timestamp())

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def last_day(interval_end: datetime) -> date:
    """The last UTC day that is over by ``interval_end``."""
    return day_of(interval_end) - ONE_DAY


def run_window(interval_end: datetime, reconcile_days: int, start_date: str | date) -> Window:
    """The window of the run whose data interval ends at ``interval_end`` (see the module doc)."""
    first_allowed = date.fromisoformat(start_date) if isinstance(start_date, str) else start_date
    last = last_day(interval_end)
    return Window(max(last - ONE_DAY * (max(reconcile_days, 1) - 1), first_allowed), last)
