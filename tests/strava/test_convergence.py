"""Property: the lake converges to what Strava shows, whatever the athlete and the network do.

Under random schedules of late uploads (some older than the window), renames, sport-type and privacy
changes, deletions, 429s, 5xx answers, dropped connections, short pages, a nearly used-up rate limit and
expired access tokens, after each daily run:

- every day of the run's window holds exactly what the stand-in lists for that day, in the day's order;
- every day that has left the window holds what the last run that listed it saw (a change older than
  the window is left alone);
- no activity is in two days, or twice in one.

Each run is the DAG's extraction of consecutive days (the window from ``run_window``), retried as Airflow
retries it (a 15-minute limit beyond the time budget, a Strava error after backoff). Time is a shared fake
clock (the stand-in's windows, token lifetimes and the client's waits agree on it), so waiting for the
next quarter hour costs no real time. Refreshed tokens are written to AWS Secrets Manager (local AWS),
and every refresh after a 401 reads the connection from there again.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from datalake.strava.errors import StravaError, StravaRateLimited
from datalake.strava.extract import extract_window
from datalake.strava.hook import StravaHook
from datalake.strava.layout import CURATED_PREFIX, curated_key, run_label
from datalake.strava.store import SecretsManagerStore
from datalake.strava.window import midnight, run_window
from devstack.strava_api import StravaStandIn
from tests.clock import FakeClock
from tests.masking import fresh_masker
from tests.strava.conftest import END, list_objects, seeded, strava_conn_uri_env

DAY = timedelta(days=1)
RUNS = 4  # consecutive daily runs, the first one's own day the last seeded day
FIRST_DAY = "2025-01-01"


changes = st.lists(
    st.one_of(
        # an upload for a day this many days before the run's own day (past 6: older than a week)
        st.tuples(st.just("upload"), st.integers(0, 9), st.integers(0, 23)),
        st.tuples(
            st.just("rename"), st.floats(0, 1, exclude_max=True), st.text("ab ", min_size=1, max_size=6)
        ),
        st.tuples(
            st.just("retype"), st.floats(0, 1, exclude_max=True), st.sampled_from(["TrailRun", "Hike"])
        ),
        st.tuples(st.just("private"), st.floats(0, 1, exclude_max=True), st.booleans()),
        st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.none()),
    ),
    max_size=4,
)
faults = st.fixed_dictionaries(
    {
        "fail": st.tuples(st.integers(0, 3), st.sampled_from([429, 500, 502, 503])),
        "drop": st.integers(0, 2),
        "short_pages": st.booleans(),
        "read_15min": st.sampled_from([None, 97, 99, 100]),
        "expire_tokens": st.booleans(),
        "tight_budget": st.booleans(),
    }
)


def day_of(activity: dict[str, Any]) -> date:
    return datetime.fromisoformat(activity["start_date"]).astimezone(UTC).date()


def what_strava_lists(strava: StravaStandIn, day: date) -> list[tuple[Any, ...]]:
    """The day as a reader should see it, straight from the stand-in's JSON."""
    found = sorted(
        (a for a in strava.activities if day_of(a) == day), key=lambda a: (a["start_date"], a["id"])
    )
    return [(a["id"], a["name"], a["sport_type"], a["private"]) for a in found]


def what_the_lake_holds(s3: Any, bucket: str, day: date) -> list[tuple[Any, ...]]:
    try:
        body = s3.get_object(Bucket=bucket, Key=curated_key(day))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return [
        (r["id"], r["name"], r["sport_type"], r["private"])
        for r in pq.read_table(io.BytesIO(body)).to_pylist()
    ]


def start_a_task() -> None:
    """What Airflow's task supervisor does before each task: a secrets masker without the secrets of
    the tasks before (it compiles one regex of every secret it holds each time it is given a new one:
    kept over every run of every example, that cost grows with their square)."""
    fresh_masker()


def apply(strava: StravaStandIn, change: tuple[Any, ...], own_day: date) -> None:
    kind, where, value = change
    if kind == "upload":
        template = {k: v for k, v in strava.activities[0].items() if k != "id"}
        day = own_day - DAY * where
        strava.upload({**template, "start_date": f"{day}T{value:02d}:17:00Z", "name": f"Late {day} {value}"})
        return
    if not strava.activities:
        return
    victim = strava.activities[int(where * len(strava.activities))]["id"]
    if kind == "delete":
        strava.delete(victim)
    elif kind == "rename":
        strava.edit(victim, name=value)
    elif kind == "retype":
        strava.edit(victim, sport_type=value)
    else:
        strava.edit(victim, private=value)


@pytest.mark.timeout(300)
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    # no shrinking: each example runs real servers, and shrinking reruns hundreds of them (minutes) just
    # to report a smaller schedule than the failing one it prints anyway
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    reconcile_days=st.sampled_from([1, 3, 7]),
    schedule=st.lists(st.tuples(changes, faults), min_size=RUNS, max_size=RUNS),
)
def test_every_day_of_the_window_equals_stravas_listing_after_each_run(
    reconcile_days: int, schedule: list[tuple[list[Any], dict[str, Any]]], local_aws: str, airflow_db: None
) -> None:
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    first_own_day = END.date() - DAY
    clock = FakeClock(midnight(first_own_day + DAY).timestamp() + 4 * 3600)
    expected: dict[date, list[tuple[Any, ...]]] = {}  # each day as the last run that listed it saw it
    with StravaStandIn(seeded(14, seed=11), clock=clock) as strava, pytest.MonkeyPatch.context() as mp:
        conn_id = f"strava_prop_{uuid.uuid4().hex[:8]}"
        name, value = strava_conn_uri_env(conn_id, strava)
        mp.setenv(name, value)
        backend = SecretsManagerBackend(
            connections_prefix="airflow/connections", endpoint_url=local_aws, region_name="us-east-1"
        )
        store = SecretsManagerStore(backend, conn_id, attempts=2, wait_max=0.01)
        backend.client.create_secret(Name=store.secret_id, SecretString=value)
        hook = StravaHook(
            conn_id, store_factory=lambda _id: store, clock=clock, sleep=clock.sleep, timeout=(2, 0.3)
        )
        hook.ensure_fresh_token()

        for n, (history, fault) in enumerate(schedule):
            own_day = first_own_day + DAY * n
            end = midnight(own_day + DAY) + timedelta(hours=4)
            clock.now = max(clock.now, end.timestamp())
            for change in history:
                apply(strava, change, own_day)
            strava.fail_next(*fault["fail"])
            strava.drop_next(fault["drop"])
            strava.set_short_pages(fault["short_pages"])
            if fault["read_15min"] is not None:
                strava.set_usage(read_15min=fault["read_15min"])
            if fault["expire_tokens"]:
                strava.expire_access_tokens()
            window = run_window(end, reconcile_days, FIRST_DAY)
            for _attempt in range(8):  # Airflow's retries
                start_a_task()
                client = hook.client(deadline=clock() + (60 if fault["tight_budget"] else 3600))
                client.rate_margin = 0
                try:
                    extract_window(client, s3, bucket, window, run_label=run_label(end - DAY), per_page=3)
                    break
                except (StravaRateLimited, StravaError):
                    clock.sleep(900)  # the retry delay
            else:
                pytest.fail(f"the run of {own_day} never succeeded under {fault}")

            for day in window.days:
                expected[day] = what_strava_lists(strava, day)
            for day, seen in sorted(expected.items()):
                assert what_the_lake_holds(s3, bucket, day) == seen, (own_day, day, day in window)
            ids = [
                r["id"]
                for key in list_objects(s3, bucket, CURATED_PREFIX)
                for r in pq.read_table(
                    io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                ).to_pylist()
            ]
            assert [i for i, count in Counter(ids).items() if count > 1] == []

        saved = json.loads(backend.client.get_secret_value(SecretId=store.secret_id)["SecretString"])
        assert saved["extra"]["refresh_token"] == strava.refresh_token  # every rotation was persisted
