"""Two extractions and a token refresh racing, against a Strava that rotates on every refresh.

Each extraction holds the access token it started with; the test kills every access token while they
page, three times, and starts a refresh of the token task's kind each time. Every 401 must take the one
refresh path (re-read the store, wait for a refresh in flight, take another run's rotation), never the
refresh token read at the extraction's start, which a rotation elsewhere has invalidated: both
extractions land their whole interval, and the connection ends with the refresh token Strava honours.
Real HTTP throughout: the stand-in, the API server the tokens are written back through, the local S3.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow.parquet as pq

from datalake.strava.extract import extract_window
from datalake.strava.hook import StravaHook
from datalake.strava.layout import curated_key, run_label
from datalake.strava.window import Window
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import DAYS, END, ApiServer, put_strava_connections, seeded

DAY = timedelta(days=1)
ROUNDS = 3


def _in_thread(name: str, errors: dict[str, BaseException], target: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors[name] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _list_calls(strava: StravaStandIn) -> int:
    return sum(1 for r in strava.requests if r.path.startswith("/api/v3/athlete/activities"))


def test_two_extractions_and_a_refresh_racing_through_rotations_all_succeed(
    airflow_api: ApiServer, lake: tuple[Any, str], metastore_reads: None
) -> None:
    s3, bucket = lake
    days = [END - DAY * (DAYS - 1), END - DAY * (DAYS - 3)]
    with StravaStandIn(seeded(), rotate_every_refresh=True) as strava:
        put_strava_connections(
            airflow_api, strava, strava_conn_id="strava_race", api_conn_id="airflow_api_race"
        )

        def hook() -> StravaHook:
            return StravaHook("strava_race", airflow_api_conn_id="airflow_api_race")

        hook().ensure_fresh_token()  # the token task of the first run
        strava.slow_next(10_000, 0.25)  # paging takes a while: the rotations happen in the middle of it
        errors: dict[str, BaseException] = {}
        results: dict[str, Any] = {}

        def extraction(name: str, start: Any) -> Callable[[], None]:
            def run() -> None:
                client = hook().client()  # the access token read at this extraction's start
                window = Window(start.date(), start.date())  # a day each, to tell their 401s apart
                results[name] = extract_window(
                    client, s3, bucket, window, run_label=run_label(start), per_page=1
                )

            return run

        extractions = [
            _in_thread(f"extract-{i}", errors, extraction(f"extract-{i}", d)) for i, d in enumerate(days)
        ]
        refreshes = []
        for round_ in range(ROUNDS):
            seen = _list_calls(strava)
            deadline = time.monotonic() + 30
            while _list_calls(strava) < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.05)  # both extractions are paging
            strava.expire_access_tokens()
            refresh = hook()
            refreshes.append(
                _in_thread(
                    f"refresh-{round_}", errors, lambda h=refresh: h.ensure_fresh_token(margin_s=10**9)
                )
            )
        for thread in extractions + refreshes:
            thread.join(timeout=120)
        strava.slow_next(0, 0)

        assert errors == {}
        assert all(not t.is_alive() for t in extractions + refreshes)
        for i, start in enumerate(days):
            expected = [
                a for a in strava.activities if start <= datetime.fromisoformat(a["start_date"]) < start + DAY
            ]
            body = s3.get_object(Bucket=bucket, Key=curated_key(start))["Body"].read()
            assert (
                pq.read_table(io.BytesIO(body)).num_rows == results[f"extract-{i}"].rows == len(expected) > 0
            )
        from airflow.sdk.bases.hook import BaseHook

        stored = BaseHook.get_connection("strava_race").extra_dejson["refresh_token"]
        assert stored == strava.refresh_token  # the last rotation is the one stored
        refreshed = sum(1 for r in strava.requests if r.path == "/oauth/token" and r.status == 200)
        assert refreshed >= 1 + ROUNDS  # the first token task's, then at least one per round
        for start in days:  # each extraction met a 401 in the middle of its paging
            before = str(int((start + DAY).timestamp()))
            refused = [r for r in strava.requests if r.status == 401 and r.query.get("before") == before]
            assert refused, f"the extraction of {start:%Y-%m-%d} never met a 401"
