"""Backfills on the embedded stack, through Airflow's REST API: the request ``airflow backfill create`` makes.

    python -m devstack.backfill --dag-id strava_activities --from-date 2025-11-27 --to-date 2026-11-26
    make backfill DAG=strava_activities FROM=2025-11-27 TO=2026-11-26

Why not the ``airflow`` CLI here: the embedded Airflow keeps its metadata in SQLite, which takes one
writer at a time. ``airflow backfill create`` is a second process writing the database next to the
scheduler; it failed with "database is locked" (measured with Python's 5-second lock wait, before the
stack's 60 s), and a failed creation can take the scheduler down with it (measured: the scheduler died
on a row the failed creation had removed). The API server is one of the
stack's own processes, and refuses a backfill whose runs take too long to insert while the scheduler
writes ("not supported on SQLite under concurrent access"), so a long range is created in pieces of at
most ``--chunk-days`` days, one piece after the other (Airflow runs one backfill per DAG at a time).
A refused creation removes the runs it had written; a scheduler that had already picked one of them
up dies on it (measured, Airflow 3.3.2 on SQLite), so the DAG is paused while a piece is created: the
scheduler leaves a paused DAG's runs alone. The runs it had taken over to reprocess are kept since the
stack's savepoints nest (``devstack.sqlite_savepoints``).
On PostgreSQL (production, ``docker-compose.yaml``) ``airflow backfill create`` over the whole range is
the command; the runs are the same either way.

A range that starts before the DAG's configured first day (``strava.start_date``,
``inventories[].start_date``) is refused before anything is created or paused: every run for those
days would fail at its first task (``datalake.dag_defaults.check_first_day``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from datalake.config import DatalakeConfig, get_config
from devstack.airflow import AirflowServer

CHUNK_DAYS = 31
REPROCESS = ("none", "completed", "failed")
STRAVA_DAG = "strava_activities"


class RefusedRange(ValueError):
    """A backfill range that no run of the DAG can take; nothing was created."""


def first_day(config: DatalakeConfig, dag_id: str) -> tuple[date, str] | None:
    """The configured first day of data of ``dag_id`` and the key that sets it; None if it has none."""
    if dag_id == STRAVA_DAG:
        return date.fromisoformat(config.strava.start_date), "strava.start_date"
    for inv in config.inventories:
        if inv.dag_id == dag_id:
            return date.fromisoformat(inv.start_date), f"inventories[name={inv.name}].start_date"
    return None


def refuse_before_first_day(config: DatalakeConfig, dag_id: str, start: datetime) -> None:
    """Raise :class:`RefusedRange` if the range starting at ``start`` begins before the DAG's first day."""
    found = first_day(config, dag_id)
    if found is None or start.astimezone(UTC).date() >= found[0]:
        return
    day, key = found
    raise RefusedRange(
        f"the range starts on {start.astimezone(UTC).date()}, before {key} = {day} in {config.source}, "
        f"and every run for those days would fail; start it on {day} or later, or set {key} earlier. "
        "Nothing was created."
    )


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def chunks(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` (both inclusive, as the backfill API takes them) cut into pieces of ``days`` days."""
    if end < start:
        raise ValueError(f"the backfill range ends ({iso(end)}) before it starts ({iso(start)})")
    if days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {days}")
    pieces, first = [], start
    while first <= end:
        last = min(first + timedelta(days=days) - timedelta(seconds=1), end)
        pieces.append((first, last))
        first = last + timedelta(seconds=1)
    return pieces


def create(
    airflow: AirflowServer,
    dag_id: str,
    start: datetime,
    end: datetime,
    *,
    reprocess: str = "completed",
    max_active_runs: int = 1,
    busy_timeout: float = 300,
) -> dict[str, Any]:
    """``POST /backfills``; an answer of a busy SQLite database is retried until ``busy_timeout``."""
    if reprocess not in REPROCESS:
        raise ValueError(f"reprocess must be one of {REPROCESS}, got {reprocess!r}")
    body = {
        "dag_id": dag_id,
        "from_date": iso(start),
        "to_date": iso(end),
        "reprocess_behavior": reprocess,
        "max_active_runs": max_active_runs,
    }
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return airflow.api("POST", "/backfills", json=body, busy_timeout=busy_timeout)
        except RuntimeError as exc:
            running = _running_backfill(airflow, dag_id) if "answered 409" in str(exc) else None
            if running is None or time.monotonic() > deadline:
                raise
            if (_date(running["from_date"]), _date(running["to_date"])) != (start, end):
                raise RuntimeError(
                    f"backfill {running['id']} of {dag_id} over [{running['from_date']}, "
                    f"{running['to_date']}] is still running: wait for it or cancel it"
                ) from None
            # Our own earlier request, refused on a busy database: Airflow's clean-up of it has not
            # removed it (yet, or at all) and it holds some or none of its runs, all queued (the DAG
            # is paused). Cancel it (its queued runs end failed, which the next backfill reprocesses)
            # unless the clean-up got there first, and ask again for the whole range.
            try:
                airflow.api("PUT", f"/backfills/{running['id']}/cancel")
            except RuntimeError as gone:
                if not any(f"answered {code}" in str(gone) for code in (404, 409)):
                    raise


def _running_backfill(airflow: AirflowServer, dag_id: str) -> dict[str, Any] | None:
    answer = airflow.api("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})
    return next((b for b in answer["backfills"] if not b["completed_at"]), None)


def wait(
    airflow: AirflowServer,
    backfill_id: int,
    *,
    timeout: float,
    every: float = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Wait until every run of the backfill has finished, mark it completed, and return it; report its
    runs' states as they change.

    Airflow's scheduler marks a backfill completed in a check of its own every 30 s (a fixed interval):
    a piece would end up to 30 s after its last run, and the next piece of the same DAG be refused
    until then. A backfill creates all its runs when it is created, so once none of its range is queued
    or running none will start; the rule the scheduler's check applies is applied here at once.
    """
    deadline, last = time.monotonic() + timeout, ""
    while True:
        backfill = airflow.api("GET", f"/backfills/{backfill_id}")
        if backfill["completed_at"]:
            return backfill
        states = Counter(r["state"] for r in runs_of(airflow, backfill))
        if states and not (states["queued"] or states["running"]):
            return _mark_completed(airflow, backfill_id)
        line = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        if progress is not None and line != last:
            progress(f"  backfill {backfill_id}: {line}")
            last = line
        if time.monotonic() > deadline:
            what = f"backfill {backfill_id} of {backfill['dag_id']}"
            raise TimeoutError(f"{what} not done after {timeout:.0f}s ({line or 'no runs'})")
        time.sleep(every)


def _mark_completed(airflow: AirflowServer, backfill_id: int) -> dict[str, Any]:
    """Complete a backfill whose runs have all finished: its cancel fails no run (it fails queued runs
    only, and there are none) and sets ``completed_at``; a 409 is the scheduler having got there first."""
    try:
        return airflow.api("PUT", f"/backfills/{backfill_id}/cancel")
    except RuntimeError as exc:
        if "answered 409" not in str(exc):
            raise
    return airflow.api("GET", f"/backfills/{backfill_id}")


def runs_of(airflow: AirflowServer, backfill: dict[str, Any]) -> list[dict[str, Any]]:
    """The DAG's runs whose logical dates fall in the backfill's range, oldest first."""
    found: list[dict[str, Any]] = []
    while True:
        page = airflow.api(
            "GET",
            f"/dags/{backfill['dag_id']}/dagRuns",
            params={
                "logical_date_gte": backfill["from_date"],
                "logical_date_lte": backfill["to_date"],
                "order_by": "logical_date",
                "limit": 100,
                "offset": len(found),
            },
        )
        found.extend(page["dag_runs"])
        if not page["dag_runs"] or len(found) >= page["total_entries"]:
            return found


def run(
    airflow: AirflowServer,
    dag_id: str,
    start: datetime,
    end: datetime,
    *,
    reprocess: str = "completed",
    max_active_runs: int = 1,
    chunk_days: int = CHUNK_DAYS,
    timeout: float = 3600,
    progress: Callable[[str], None] | None = None,
    config: DatalakeConfig | None = None,
) -> list[dict[str, Any]]:
    """Backfill ``dag_id`` over ``[start, end]`` piece by piece; return every run of the range.

    A range before the DAG's configured first day is refused first (:class:`RefusedRange`).
    """
    refuse_before_first_day(config or get_config(), dag_id, start)
    runs: list[dict[str, Any]] = []
    for first, last in chunks(start, end, chunk_days):
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
        try:
            backfill = create(
                airflow, dag_id, first, last, reprocess=reprocess, max_active_runs=max_active_runs
            )
        finally:
            airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        if progress is not None:
            progress(f"{dag_id}: backfill {backfill['id']} over [{iso(first)}, {iso(last)}]")
        done = wait(airflow, backfill["id"], timeout=timeout, progress=progress)
        runs.extend(runs_of(airflow, done))
    return runs


def _date(text: str) -> datetime:
    """A date or date-time as the CLI takes it (``2026-11-01``); UTC unless it says otherwise."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    from devstack.stack import Stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--from-date", required=True, type=_date, help="inclusive, as the CLI's")
    parser.add_argument("--to-date", required=True, type=_date, help="inclusive")
    parser.add_argument("--reprocess-behavior", choices=REPROCESS, default="completed")
    parser.add_argument("--max-active-runs", type=int, default=1)
    parser.add_argument("--chunk-days", type=int, default=CHUNK_DAYS)
    args = parser.parse_args(argv)
    if not args.dag_id:
        parser.error("--dag-id is empty (make backfill DAG=<dag_id> FROM=<date> TO=<date>)")
    try:
        refuse_before_first_day(get_config(), args.dag_id, args.from_date)
    except RefusedRange as exc:
        print(f"backfill of {args.dag_id} refused: {exc}", file=sys.stderr)
        return 1
    stack = Stack()
    if not stack.running():
        print("the embedded stack is not running: start it with `make up`", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        runs = run(
            stack.airflow,
            args.dag_id,
            args.from_date,
            args.to_date,
            reprocess=args.reprocess_behavior,
            max_active_runs=args.max_active_runs,
            chunk_days=args.chunk_days,
            progress=lambda line: print(line, flush=True),
        )
    except (RuntimeError, ValueError, TimeoutError) as exc:
        print(f"backfill of {args.dag_id} stopped: {exc}", file=sys.stderr)
        return 1
    states = Counter(r["state"] for r in runs)
    print(
        f"{args.dag_id}: {len(runs)} runs in [{iso(args.from_date)}, {iso(args.to_date)}] "
        f"({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}) in {time.monotonic() - started:.0f}s"
    )
    return 0 if runs and set(states) == {"success"} else 1


if __name__ == "__main__":
    sys.exit(main())
