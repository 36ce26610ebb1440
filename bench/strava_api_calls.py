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

Calls are counted by the Strava stand-in, which serves them over real HTTP with default rate limits;
writes are the lake bucket's new object versions. Writes bench/results/strava_api_calls.json.
"""

from __future__ import annotations

import argparse
import json
import math
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 19000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    clock = [END.timestamp() + 2 * 86400]
    report: dict[str, Any] = {"full_sync": [], "daily_runs": []}
    ok = True
    for n in args.sizes:
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
        report["daily_runs"] = daily_runs([0.0], s3)
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
