"""Strava API calls against the floor: a full-history sync, daily runs with a 7-day window, a quiet day.

    .venv/bin/python -m bench.strava_api_calls [--sizes 1000 5000 19000] [--runs 3]

- **Full sync**: one window covering N activities' whole history (per_page=200, paging until an empty
  page). The floor is ceil(N/200) + 1 list calls (target: equal).
- **Daily runs** of an athlete with 1-2 activities a day (90 over 60 days), a 7-day window each, as the
  DAG runs them (the token task, then the extraction into a versioned lake bucket on the local AWS):
  a first run into an empty lake, the next day's run, then a quiet day (no new activity, nothing
  changed), and the quiet day's run again within the hour. Target: 1 list page plus the empty page per
  run (the floor, ceil(n_window/200) + 1); a quiet day at most 2 read calls plus the token check (a day
  after the last run the 6-hour access token has expired: one token call; within the hour: none) and no
  object written.

- **Details, full sync** (``strava.details``, default share 0.5): one window over N activities' whole
  history, then runs a quarter hour apart that drain the backlog, then the same window again. Target:
  exactly N detail calls in all (each activity once, the backlog never fetching one twice), 0 on the
  re-run, and never a 429.
- **Details, a year's backfill**: 365 daily runs in order (the DAG's extraction, a 7-day window each,
  details on, default limits 100 per 15 minutes and 1,000 a day), each run taking :data:`RUN_SECONDS`
  of the clock (the measured length of a backfilled run), waiting for a quarter hour where the client
  does. A run that meets the daily limit fails (``StravaDailyLimitReached``) and is cleared after
  midnight UTC, as the DAG's doc says. Reports the calls, the detail calls (target: the year's
  activities, exactly), the daily stops and how long the backfill takes from a start at 00:00 and at
  20:00 UTC.

Calls are counted by the Strava stand-in, which serves them over real HTTP with default rate limits, on a
fake clock (waits cost no real time); writes are the lake bucket's new object versions. Writes
bench/results/strava_api_calls.json. ``--only details`` runs the two details benchmarks alone.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from datalake.strava.client import StravaClient
from datalake.strava.extract import extract_window
from datalake.strava.layout import run_label
from datalake.strava.listing import list_window
from datalake.strava.tokens import ensure_fresh_tokens
from datalake.strava.window import Window, midnight, run_window
from devstack.strava_api import StravaStandIn, seed_activities

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
END = datetime(2026, 11, 1, tzinfo=UTC)
RECONCILE_DAYS = 7


class _MemoryStore:
    """Where a run writes a refreshed token (this benchmark counts Strava calls only)."""

    description = "memory"

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}

    def check(self, conn: Any, deadline: Any) -> None:
        return None

    def save_extra(self, conn: Any, extra: dict[str, Any], *, deadline: Any) -> None:
        self.extra = extra


def _list_calls(strava: StravaStandIn) -> int:
    return sum(1 for r in strava.requests if r.path.startswith("/api/"))


def _token_calls(strava: StravaStandIn) -> int:
    return sum(1 for r in strava.requests if r.path == "/oauth/token")


def _connection(strava: StravaStandIn, extra: dict[str, Any]) -> Any:
    from airflow.sdk import Connection

    return Connection(
        conn_id="strava_bench",
        conn_type="strava",
        host=strava.base_url,
        login=strava.client_id,
        password=strava.client_secret,
        extra=json.dumps(extra),
    )


def full_sync(n: int, clock: list[float]) -> dict[str, Any]:
    activities = seed_activities(n, end=END, days=365 * 3)
    with StravaStandIn(activities, clock=lambda: clock[0]) as strava:
        store = _MemoryStore()
        tokens, _ = ensure_fresh_tokens(
            _connection(strava, {"refresh_token": strava.refresh_token}), lambda _c: store
        )
        before = _list_calls(strava)

        def sleep(seconds: float) -> None:
            clock[0] += seconds  # waiting for the next 15-minute window costs no real time here

        client = StravaClient(strava.base_url, tokens.access_token or "", clock=lambda: clock[0], sleep=sleep)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            window = Window((END - timedelta(days=365 * 3 + 1)).date(), END.date())
            listing = list_window(client, window, Path(tmp) / "listing.jsonl")
        seconds = time.perf_counter() - started
        calls = _list_calls(strava) - before
    floor = math.ceil(n / 200) + 1
    rows = listing.activities_listed
    return {"n": n, "rows": rows, "calls": calls, "floor": floor, "ratio": calls / floor, "seconds": seconds}


def _versions(s3: Any, bucket: str) -> int:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    return sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", [])) for p in pages)


def daily_runs(clock: list[float], s3: Any) -> list[dict[str, Any]]:
    """The four daily runs of the module doc, each: token calls, list calls, the floor, objects written."""
    bucket = f"bench-strava-calls-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # the activities of 60 days, the last one the day before END: 1 or 2 a day
    athlete = seed_activities(90, end=END, days=60)
    rows = []
    with StravaStandIn(athlete, clock=lambda: clock[0]) as strava:
        store = _MemoryStore()
        clock[0] = (
            midnight(END.date() - timedelta(days=1)) + timedelta(hours=4)
        ).timestamp()  # the first run
        ensure_fresh_tokens(  # the connection as its first run finds it: a token just issued
            _connection(strava, {"refresh_token": strava.refresh_token}),
            lambda _c: store,
            now=lambda: clock[0],
        )
        runs: list[tuple[str, date, float]] = [  # (what, the run's own day, seconds after its interval)
            ("first run, empty lake", END.date() - timedelta(days=2), 0),
            ("next day", END.date() - timedelta(days=1), 0),
            ("quiet day", END.date(), 0),
            ("quiet day, again in the hour", END.date(), 1800),
        ]
        for what, own_day, later in runs:
            interval_end = midnight(own_day + timedelta(days=1)) + timedelta(hours=4)
            clock[0] = max(clock[0], interval_end.timestamp() + later)
            base_token, base_list, base_writes = (
                _token_calls(strava),
                _list_calls(strava),
                _versions(s3, bucket),
            )
            # the token task, then the extraction, as the DAG runs them
            fresh, _ = ensure_fresh_tokens(
                _connection(strava, store.extra), lambda _c: store, now=lambda: clock[0]
            )
            client = StravaClient(strava.base_url, fresh.access_token or "", clock=lambda: clock[0])
            window = run_window(interval_end, RECONCILE_DAYS, "2025-01-01")
            result = extract_window(client, s3, bucket, window, run_label=run_label(interval_end))
            listed = result.rows
            rows.append(
                {
                    "run": what,
                    "window": str(window),
                    "activities_in_window": listed,
                    "token_calls": _token_calls(strava) - base_token,
                    "list_calls": _list_calls(strava) - base_list,
                    "floor": math.ceil(listed / 200) + 1,
                    "days_rewritten": len(result.days),
                    "objects_written": _versions(s3, bucket) - base_writes,
                }
            )
    return rows


# the measured length of one backfilled run of strava_activities on the embedded stack (82 min for 365
# runs, README "Backfills"), which the year's simulated backfill charges to the clock per run
RUN_SECONDS = 82 * 60 / 365
DETAIL_CALL = re.compile(r"/api/v3/activities/\d+")


def _detail_calls(strava: StravaStandIn) -> int:
    return sum(1 for r in strava.requests if DETAIL_CALL.fullmatch(r.path))


def _bucket(s3: Any, name: str) -> str:
    bucket = f"bench-strava-{name}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return bucket


def _client(strava: StravaStandIn, store: _MemoryStore, clock: list[float]) -> StravaClient:
    """A client for a run starting at ``clock[0]``, its token checked first (the token task)."""
    fresh, _ = ensure_fresh_tokens(_connection(strava, store.extra), lambda _c: store, now=lambda: clock[0])

    def sleep(seconds: float) -> None:
        clock[0] += max(0.0, seconds)

    return StravaClient(
        strava.base_url,
        fresh.access_token or "",
        clock=lambda: clock[0],
        sleep=sleep,
        deadline=clock[0] + WAIT_BUDGET_S,
    )


WAIT_BUDGET_S = 105 * 60  # the extraction's wait budget (datalake.strava.tasks.WAIT_BUDGET)


def details_full_sync(n: int, s3: Any) -> dict[str, Any]:
    """The details benchmark of the module doc: N activities, one window, drained by later runs."""
    from datalake.strava.budget import Budget
    from datalake.strava.details import DetailOptions

    activities = seed_activities(n, end=END, days=365)
    bucket = _bucket(s3, "details")
    clock = [END.timestamp() + 4 * 3600]
    window = Window((END - timedelta(days=366)).date(), (END - timedelta(days=1)).date())
    options = DetailOptions(Budget(0.5), today=END.date())
    with StravaStandIn(activities, clock=lambda: clock[0]) as strava:
        store = _MemoryStore()
        store.extra = {"refresh_token": strava.refresh_token}
        runs, pending = 0, None
        while pending != 0 and runs < 100:
            client = _client(strava, store, clock)
            result = extract_window(client, s3, bucket, window, run_label=run_label(END), details=options)
            pending = result.details["pending"]
            runs += 1
            clock[0] = (clock[0] // 900 + 1) * 900 + 60  # the next run a quarter hour later
        sync_calls = _detail_calls(strava)
        client = _client(strava, store, clock)
        again = extract_window(client, s3, bucket, window, run_label=run_label(END), details=options)
        rerun_calls = _detail_calls(strava) - sync_calls
        refused = sum(1 for r in strava.requests if r.status == 429)
    return {
        "n": n,
        "runs_to_drain": runs,
        "detail_calls": sync_calls,
        "target": n,
        "rerun_detail_calls": rerun_calls,
        "rerun_pending": again.details["pending"],
        "http_429": refused,
    }


def details_backfill(s3: Any, start_hour: int, n: int = 300) -> dict[str, Any]:
    """The year's backfill of the module doc, started at ``start_hour`` UTC on the first run's day."""
    from datalake.strava.budget import Budget
    from datalake.strava.details import DetailOptions
    from datalake.strava.errors import StravaDailyLimitReached

    activities = seed_activities(n, end=END, days=365)
    bucket = _bucket(s3, "backfill")
    days = [END.date() - timedelta(days=365 - i) for i in range(365)]
    begin = midnight(END.date()).timestamp() + start_hour * 3600
    clock = [begin]
    options = DetailOptions(Budget(0.5), today=END.date())
    stops = 0
    with StravaStandIn(activities, clock=lambda: clock[0]) as strava:
        store = _MemoryStore()
        store.extra = {"refresh_token": strava.refresh_token}
        pending = 0
        for day in days:
            interval_end = midnight(day + timedelta(days=1)) + timedelta(hours=4)
            window = run_window(interval_end, RECONCILE_DAYS, "2024-01-01")
            while True:
                try:
                    client = _client(strava, store, clock)
                    result = extract_window(
                        client, s3, bucket, window, run_label=run_label(interval_end), details=options
                    )
                    break
                except StravaDailyLimitReached:
                    stops += 1
                    clock[0] = (clock[0] // 86400 + 1) * 86400 + 60  # cleared after midnight UTC
            pending = result.details["pending"]
            clock[0] += RUN_SECONDS
        while pending:  # the daily run after the backfill drains what is left
            clock[0] = (clock[0] // 900 + 1) * 900 + 60
            client = _client(strava, store, clock)
            window = run_window(midnight(END.date()) + timedelta(hours=4), RECONCILE_DAYS, "2024-01-01")
            pending = extract_window(
                client, s3, bucket, window, run_label=run_label(END), details=options
            ).details["pending"]
        in_year = sum(
            1
            for a in activities
            if datetime.fromisoformat(a["start_date"]).date() >= days[0] - timedelta(days=6)
        )
        return {
            "start_utc": f"{start_hour:02d}:00",
            "runs": len(days),
            "activities": in_year,
            "api_calls": sum(1 for r in strava.requests if r.path.startswith("/api/")),
            "list_calls": sum(1 for r in strava.requests if r.path == "/api/v3/athlete/activities"),
            "detail_calls": _detail_calls(strava),
            "gear_calls": sum(1 for r in strava.requests if r.path.startswith("/api/v3/gear/")),
            "daily_stops": stops,
            "http_429": sum(1 for r in strava.requests if r.status == 429),
            "hours": round((clock[0] - begin) / 3600, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 19000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["details"], help="run the details benchmarks alone")
    args = parser.parse_args(argv)
    clock = [END.timestamp() + 2 * 86400]
    report: dict[str, Any] = {
        "full_sync": [],
        "daily_runs": [],
        "details_full_sync": [],
        "details_backfill": [],
    }
    ok = True
    for n in [] if args.only else args.sizes:
        runs = [full_sync(n, clock) for _ in range(args.runs)]
        calls = statistics.median(r["calls"] for r in runs)
        row = {
            **runs[0],
            "calls": calls,
            "ratio": calls / runs[0]["floor"],
            "seconds_median": statistics.median(r["seconds"] for r in runs),
        }
        del row["seconds"]
        report["full_sync"].append(row)
        ok &= row["rows"] == n and calls == row["floor"]
        print(
            f"full sync N={n:>6}: {calls:.0f} list calls, floor ceil(N/200)+1 = {row['floor']}, "
            f"ratio {row['ratio']:.2f} (target 1.00); median {row['seconds_median']:.1f}s"
            f" over {args.runs} runs"
        )

    import logging

    import boto3

    from devstack.aws import REGION, LocalAws, client_environment

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local AWS's access log

    with LocalAws(athena=False) as aws:
        env = client_environment(aws.endpoint_url)
        s3 = boto3.client(
            "s3",
            endpoint_url=aws.endpoint_url,
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        if not args.only:
            report["daily_runs"] = daily_runs([0.0], s3)
        report["details_full_sync"] = [details_full_sync(n, s3) for n in (100, 300)]
        report["details_backfill"] = [details_backfill(s3, hour) for hour in (0, 20)]
    for row in report["details_full_sync"]:
        ok &= row["detail_calls"] == row["n"] and row["rerun_detail_calls"] == 0 and row["http_429"] == 0
        print(
            f"details, full sync N={row['n']:>4}: {row['detail_calls']} detail calls (target {row['n']}) "
            f"in {row['runs_to_drain']} runs a quarter hour apart; re-run {row['rerun_detail_calls']} "
            f"(target 0); {row['http_429']} 429s"
        )
    for row in report["details_backfill"]:
        ok &= row["detail_calls"] == row["activities"] and row["http_429"] == 0
        print(
            f"details, a year's backfill from {row['start_utc']} UTC: {row['runs']} runs, "
            f"{row['api_calls']} API calls ({row['list_calls']} list, {row['detail_calls']} detail for "
            f"{row['activities']} activities, {row['gear_calls']} gear); "
            f"{row['daily_stops']} daily-limit stops; {row['http_429']} 429s; {row['hours']} h"
        )
    for row in report["daily_runs"]:
        quiet = row["run"].startswith("quiet")
        ok &= row["list_calls"] == row["floor"] == 2
        if quiet:
            ok &= row["list_calls"] <= 2 and row["objects_written"] == 0
        print(
            f"{row['run']:28s} window {row['window']}: {row['activities_in_window']:>2} activities, "
            f"{row['token_calls']} token + {row['list_calls']} list calls (floor {row['floor']}, "
            f"target 2{', no write' if quiet else ''}); {row['days_rewritten']} days rewritten, "
            f"{row['objects_written']} objects written"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "strava_api_calls.json").write_text(json.dumps(report, indent=2))
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
