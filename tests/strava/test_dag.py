"""The ``strava_activities`` DAG: its wiring, and one real run whose logs hold no token.

The run is ``airflow dags test`` in a child process against the Strava stand-in, the local AWS (with
the Athena that runs SQL) and the api-server the token task writes the rotated refresh token to.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from datalake.config import get_config
from datalake.strava.layout import CURATED_PREFIX
from tests.strava.conftest import (
    AIRFLOW,
    END,
    ApiServer,
    create_lake_buckets,
    dag_run_env,
    list_objects,
    put_strava_connections,
    texts_under,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["strava_activities"]


def test_the_dag_extracts_real_data_intervals_daily_without_catchup(dag) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    config = get_config()
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == (config.strava.schedule, "UTC")
    assert dag.catchup is False
    assert dag.doc_md
    from datalake.dag_defaults import TAGS

    assert set(dag.tags) <= TAGS
    assert "strava" in dag.tags


def test_tasks_run_in_order_and_the_last_one_publishes_the_asset(dag) -> None:
    from datalake.assets import strava_activities_asset

    order = ["refresh_token", "extract_activities", "create_database", "create_table", "add_partition"]
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert strava_activities_asset() in dag.get_task("add_partition").outlets
    for task_id in ("create_database", "create_table", "add_partition"):
        assert dag.get_task(task_id).execution_timeout is not None
    assert dag.get_task("extract_activities").retry_policy is not None


def test_the_worst_case_of_the_token_task_fits_well_inside_its_time_limit(dag) -> None:
    from datalake.strava.tokens import REFUSAL_GRACE_S, TOKEN_BUDGET_S

    limit = dag.get_task("refresh_token").execution_timeout.total_seconds()
    # a wait for another refresh in flight, a refused refresh, the grace, and a second refresh
    worst = 3 * TOKEN_BUDGET_S + REFUSAL_GRACE_S
    assert worst <= 0.7 * limit, (worst, limit)


@pytest.mark.e2e
def test_no_token_value_reaches_any_log_of_a_real_run(
    airflow_api: ApiServer, strava, local_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = get_config()
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    create_lake_buckets(local_aws)
    put_strava_connections(airflow_api, strava, strava_conn_id=config.strava.conn_id)
    first_refresh_token = strava.refresh_token
    logical = END - timedelta(days=2) + timedelta(hours=4)
    run = subprocess.run(
        [AIRFLOW, "dags", "test", "strava_activities", logical.isoformat()],
        env=dag_run_env(local_aws, tmp_path / "logs"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    logs = [output, *texts_under(tmp_path / "logs")]
    assert run.returncode == 0, output[-4000:]
    assert "success" in output.lower()

    # the token task refreshed, rotated and persisted
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    from airflow.sdk.bases.hook import BaseHook

    stored = BaseHook.get_connection(config.strava.conn_id).extra_dejson
    assert stored["refresh_token"] == strava.refresh_token != first_refresh_token
    secrets = [first_refresh_token, stored["refresh_token"], stored["access_token"], strava.client_secret]
    for text in logs:
        for secret in secrets:
            assert secret not in text

    # the extraction recorded the rate-limit usage it saw, for the next run's first request
    answer = airflow_api.call("GET", "/variables/datalake_strava_rate_limits")
    assert answer.status_code == 200, answer.text
    recorded = json.loads(answer.json()["value"])
    usage = strava.state()["usage"]
    seen = (usage["read_15min"], usage["read_daily"])
    assert (recorded["usage_15"], recorded["usage_day"]) == seen > (0, 0)
    assert (recorded["limit_15"], recorded["limit_day"]) == tuple(strava.read_limit)

    # the interval landed, once
    keys = list(list_objects(s3, config.lake.bucket, CURATED_PREFIX))
    assert len(keys) == 1
    dt = keys[0].split("dt=")[1].split("/")[0]
    start = datetime.fromisoformat(dt).replace(tzinfo=UTC, hour=4)
    expected = [
        a
        for a in strava.activities
        if start <= datetime.fromisoformat(a["start_date"]) < start + timedelta(days=1)
    ]
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=config.lake.bucket, Key=keys[0])["Body"].read()))
    assert table.num_rows == len(expected) > 0

    # and Athena reads it through the table and its new partition
    athena = boto3.client("athena", endpoint_url=local_aws, region_name="us-east-1")
    table_name = f"{config.strava.database}.{config.strava.table}"
    query = f"SELECT count(*), count(DISTINCT id), min(start_date) FROM {table_name} WHERE dt = '{dt}'"  # noqa: S608
    qid = athena.start_query_execution(
        QueryString=query,
        WorkGroup=config.athena.workgroup,
        ResultConfiguration={"OutputLocation": config.athena.output_location("tests", "strava")},
    )["QueryExecutionId"]
    for _ in range(120):
        state = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.5)
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    values = [c.get("VarCharValue") for c in rows[1]["Data"]]
    assert values[:2] == [str(len(expected)), str(len(expected))]
