"""Property: under random schedules of 429s, 5xx, timeouts, dropped connections, short pages, a nearly
used-up rate limit and expired access tokens, the union of the extracted intervals equals the seeded
activities: none lost, none duplicated.

Each interval is run like Airflow runs the task: a failure that Airflow would retry (a 15-minute limit
beyond the time budget, a Strava error after backoff) is retried after the retry delay. Time is a
shared fake clock (the stand-in's windows and the client's waits agree on it), so waiting for the next
quarter hour costs no real time. Refreshed tokens are written to AWS Secrets Manager (local AWS), and
every refresh after a 401 reads the connection from there again.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datalake.strava.errors import StravaError, StravaRateLimited
from datalake.strava.extract import extract_interval
from datalake.strava.hook import StravaHook
from datalake.strava.layout import CURATED_PREFIX
from datalake.strava.store import SecretsManagerStore
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import DAYS, END, list_objects, seeded, strava_conn_uri_env

DAY = timedelta(days=1)
# Three intervals of two days cover the seeded days (the DAG's are one day; the width does not matter).
INTERVALS = [(END - DAY * (DAYS + 1), END - DAY * 3), (END - DAY * 3, END - DAY), (END - DAY, END + DAY)]


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


faults = st.fixed_dictionaries(
    {
        "fail": st.tuples(st.integers(0, 3), st.sampled_from([429, 500, 502, 503])),
        "drop": st.integers(0, 2),
        "slow": st.integers(0, 1),
        "short_pages": st.booleans(),
        "read_15min": st.sampled_from([None, 97, 99, 100]),
        "expire_tokens": st.booleans(),
        "tight_budget": st.booleans(),
    }
)


@pytest.mark.timeout(300)
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=st.lists(faults, min_size=len(INTERVALS), max_size=len(INTERVALS)))
def test_no_activity_is_lost_or_duplicated_under_faults(
    schedule: list[dict[str, Any]], local_aws: str, airflow_db: None
) -> None:
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    clock = FakeClock(END.timestamp() + 3 * 86400)
    activities = seeded(30, seed=11)
    with StravaStandIn(activities, clock=clock) as strava, pytest.MonkeyPatch.context() as mp:
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
        for day, ((start, end), fault) in enumerate(zip(INTERVALS, schedule, strict=True)):
            strava.fail_next(*fault["fail"])
            strava.drop_next(fault["drop"])
            strava.slow_next(fault["slow"], 1.0)
            strava.set_short_pages(fault["short_pages"])
            if fault["read_15min"] is not None:
                strava.set_usage(read_15min=fault["read_15min"])
            if fault["expire_tokens"]:
                strava.expire_access_tokens()
            for _attempt in range(8):  # Airflow's retries
                budget = 60 if fault["tight_budget"] else 3600
                client = hook.client(deadline=clock() + budget)
                client.rate_margin = 0
                try:
                    extract_interval(client, s3, bucket, start, end, run_token=f"r{day}", per_page=4)
                    break
                except (StravaRateLimited, StravaError):
                    clock.sleep(900)  # the retry delay
            else:
                pytest.fail(f"interval {start:%Y-%m-%d} never succeeded under {fault}")

        saved = json.loads(backend.client.get_secret_value(SecretId=store.secret_id)["SecretString"])
        assert saved["extra"]["refresh_token"] == strava.refresh_token  # every rotation was persisted

    ids: list[int] = []
    for key in list_objects(s3, bucket, CURATED_PREFIX):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        ids.extend(pq.read_table(io.BytesIO(body)).column("id").to_pylist())
    assert Counter(ids) == Counter(a["id"] for a in activities)
