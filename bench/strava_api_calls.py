"""Strava API calls per sync against the floor: a full-history sync of N activities and a quiet day.

    .venv/bin/python -m bench.strava_api_calls [--sizes 1000 5000 19000] [--runs 3]

A full sync lists one window covering the whole history (per_page=200, paging until an empty page); the
floor is ceil(N/200) + 1 list calls (target: equal). A quiet day is the daily run with nothing new: the
token check (no call while the access token has more than an hour left; one token call when it must be
refreshed) plus the listing (target: at most 2 calls). Calls are counted by the Strava stand-in, which
serves them over real HTTP with default rate limits. Writes bench/results/strava_api_calls.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datalake.strava.client import StravaClient
from datalake.strava.extract import write_interval_files
from datalake.strava.tokens import ensure_fresh_tokens
from devstack.strava_api import StravaStandIn, seed_activities

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
END = datetime(2026, 11, 1, tzinfo=UTC)


class _MemoryStore:
    """Where the quiet-day run writes a refreshed token (this benchmark counts Strava calls only)."""

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
            rows, _pages, _d, _o = write_interval_files(
                client,
                END - timedelta(days=365 * 3 + 2),
                END + timedelta(days=1),
                Path(tmp) / "r.gz",
                Path(tmp) / "p",
            )
        seconds = time.perf_counter() - started
        calls = _list_calls(strava) - before
    floor = math.ceil(n / 200) + 1
    return {"n": n, "rows": rows, "calls": calls, "floor": floor, "ratio": calls / floor, "seconds": seconds}


def quiet_day(clock: list[float], *, token_expiring: bool) -> dict[str, Any]:
    with StravaStandIn(seed_activities(50, end=END, days=30), clock=lambda: clock[0]) as strava:
        store = _MemoryStore()
        _tokens, _ = ensure_fresh_tokens(
            _connection(strava, {"refresh_token": strava.refresh_token}), lambda _c: store
        )
        if token_expiring:
            clock[0] += 6 * 3600 - 60  # the access token is about to expire
        base_token, base_list = _token_calls(strava), _list_calls(strava)
        # the daily run: the token task, then the listing of a day with nothing new
        fresh, _ = ensure_fresh_tokens(
            _connection(strava, store.extra), lambda _c: store, now=lambda: clock[0]
        )
        client = StravaClient(strava.base_url, fresh.access_token or "", clock=lambda: clock[0])
        with tempfile.TemporaryDirectory() as tmp:
            write_interval_files(client, END, END + timedelta(days=1), Path(tmp) / "r.gz", Path(tmp) / "p")
        token_calls = _token_calls(strava) - base_token
        list_calls = _list_calls(strava) - base_list
    return {
        "token_expiring": token_expiring,
        "token_calls": token_calls,
        "list_calls": list_calls,
        "total": token_calls + list_calls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 19000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    clock = [END.timestamp() + 2 * 86400]
    report: dict[str, Any] = {"full_sync": [], "quiet_day": []}
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
    for expiring in (False, True):
        row = quiet_day(clock, token_expiring=expiring)
        report["quiet_day"].append(row)
        ok &= row["total"] <= 2
        print(
            f"quiet day, token {'expiring' if expiring else 'valid   '}: {row['token_calls']} token + "
            f"{row['list_calls']} list calls = {row['total']} (target <= 2)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "strava_api_calls.json").write_text(json.dumps(report, indent=2))
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
