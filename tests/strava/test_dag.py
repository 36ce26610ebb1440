"""The ``strava_activities`` DAG: its wiring, and two real runs a day apart: the first, on an empty lake,
lands its window and logs no token; Strava changes the days in between; the second brings the changes.

A run is ``airflow dags test`` in a child process against the Strava stand-in, the local AWS (with the
Athena that runs SQL) and the api-server the token task writes the rotated refresh token to.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from datalake.config import get_config
from datalake.strava import tasks as strava_tasks
from datalake.strava.layout import CURATED_PREFIX, RAW_PREFIX
from devstack.strava_api import StravaStandIn
from tests.environment import environment
from tests.strava.conftest import (
    AIRFLOW,
    END,
    ApiServer,
    athena_rows,
    create_lake_buckets,
    dag_run_env,
    list_objects,
    put_strava_connections,
    seeded,
    texts_under,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["strava_activities"]


def test_the_dag_extracts_real_data_intervals_daily_or_on_push_events_without_catchup(dag) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    from datalake.events import queue_arn

    config = get_config()
    # the embedded stack's configuration has a push-event queue: the daily intervals or its messages
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    timetable = dag.timetable.timetable
    assert isinstance(timetable, CronDataIntervalTimetable)
    assert (timetable.expression, str(timetable.timezone)) == (config.strava.schedule, "UTC")
    watched = [asset.name for asset in dag.timetable.asset_condition.objects]
    assert watched == [queue_arn(config.strava.events_queue_url)]
    assert dag.catchup is False
    assert dag.doc_md
    from datalake.dag_defaults import TAGS

    assert set(dag.tags) <= TAGS
    assert "strava" in dag.tags


def test_tasks_run_in_order_and_the_last_one_publishes_the_asset(dag) -> None:
    from datalake.assets import strava_activities_asset

    order = [
        "refresh_token",
        "extract_activities",
        "create_database",
        "create_table",
        "add_partitions",
        "publish_days",
    ]
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert [t.task_id for t in dag.tasks if t.outlets] == ["publish_days"]
    assert strava_activities_asset() in dag.get_task("publish_days").outlets
    for task_id in ("create_database", "create_table", "add_partitions"):
        assert dag.get_task(task_id).execution_timeout is not None
    assert dag.get_task("extract_activities").retry_policy is not None


def test_each_configured_detail_table_is_created_by_its_own_task_before_the_days_are_published(dag) -> None:
    config = get_config()
    tables = strava_tasks.detail_tables(config)
    assert tables, "the stack's configuration has strava.details on"
    for table in tables:
        task = dag.get_task(f"create_table_{table}")
        assert task.params.dump() == strava_tasks.detail_table_params(config, table)
        assert "CREATE EXTERNAL TABLE IF NOT EXISTS" in task.query
        assert task.upstream_task_ids == {"create_database"}
        assert task.downstream_task_ids == {"publish_days"}


def test_extractions_never_overlap_across_runs_backfills_included(dag) -> None:
    """Each writes the days as it listed them: the later listing must be the later write."""
    for task_id in ("refresh_token", "extract_activities"):
        assert dag.get_task(task_id).max_active_tis_per_dag == 1


def test_the_partition_statement_registers_every_day_of_the_window_from_the_interval_alone(dag) -> None:
    end = datetime(2026, 11, 20, 4, tzinfo=UTC)
    sql = (
        dag.get_template_env()
        .from_string(dag.get_task("add_partitions").query)
        .render(params=strava_tasks.sql_params(get_config()), data_interval_end=end, ti=None)
    )
    days = [f"2026-11-{d}" for d in range(13, 20)]
    assert re.findall(r"PARTITION \(dt = '([\d-]+)'\)", sql) == days
    assert sql.count("ALTER TABLE") == 1
    assert all(
        f"LOCATION 's3://{get_config().lake.bucket}/curated/strava/activities/dt={d}/'" in sql for d in days
    )


def test_a_push_event_run_registers_the_days_it_listed_checked_from_its_xcom(dag) -> None:
    from types import SimpleNamespace

    def render(listed: object) -> str:
        ti = SimpleNamespace(xcom_pull=lambda task_ids: {"listed_days": listed} if task_ids else None)
        return (
            dag.get_template_env()
            .from_string(dag.get_task("add_partitions").query)
            .render(
                params=strava_tasks.sql_params(get_config()),
                dag_run=SimpleNamespace(run_type="asset_triggered"),
                ti=ti,
            )
        )

    sql = render(["2026-11-19", "2025-03-02"])
    assert re.findall(r"PARTITION \(dt = '([\d-]+)'\)", sql) == ["2025-03-02", "2026-11-19"]
    with pytest.raises(ValueError, match="listed_days"):
        render(["2026-11-19') LOCATION 's3://elsewhere/"])


def test_the_asset_extra_names_the_rewritten_days_and_refuses_an_edited_xcom() -> None:
    end = datetime(2026, 11, 20, 4, tzinfo=UTC)
    extracted = {"days": ["2026-11-19", "2026-11-13", "2026-11-19"]}
    assert strava_tasks.asset_extra(extracted, end) == {"days": ["2026-11-13", "2026-11-19"]}
    assert strava_tasks.asset_extra({"days": []}, end) == {"days": []}
    for edited in ({"days": ["2026-11-12"]}, {"days": ["2026-11-19'; DROP"]}, {"days": [20261119]}):
        with pytest.raises(ValueError, match="outside the window 2026-11-13 to 2026-11-19"):
            strava_tasks.asset_extra(edited, end)
    with pytest.raises(ValueError, match="no list of days"):
        strava_tasks.asset_extra({"days": "2026-11-19"}, end)


def test_a_run_with_no_whole_day_since_the_first_day_skips_instead_of_listing(dag) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    config = get_config()
    first = datetime.fromisoformat(config.strava.start_date).replace(tzinfo=UTC)
    with pytest.raises(AirflowSkipException, match="nothing to list yet"):
        # an hourly schedule's run on the first day: no StravaHook, no S3 client is needed to say so
        strava_tasks.extract_activities(first, first + timedelta(hours=1), config)


def test_the_worst_case_of_the_token_task_fits_well_inside_its_time_limit(dag) -> None:
    from datalake.strava.tokens import REFUSAL_GRACE_S, TOKEN_BUDGET_S

    limit = dag.get_task("refresh_token").execution_timeout.total_seconds()
    # a wait for another refresh in flight, a refused refresh, the grace, and a second refresh
    worst = 3 * TOKEN_BUDGET_S + REFUSAL_GRACE_S
    assert worst <= 0.7 * limit, (worst, limit)


@dataclass
class FirstRun:
    """The module's first real run of the DAG (an empty lake), and what it left, read right after it."""

    strava: Any  # the stand-in, which the later test changes before its second run
    env: dict[str, str]  # the environment of ``airflow dags test``
    logical: datetime
    logs: list[str]  # its output and every task log
    first_refresh_token: str
    issued_refresh_token: str  # the stand-in's after the run: the one it rotated to
    stored: dict[str, Any]  # the Strava connection's extra in the metadata DB after the run
    rate_limits: Any  # the Variable the extraction recorded, as the REST API answers it
    usage: dict[str, int]  # the stand-in's request counters after the run
    days: dict[str, list[dict[str, Any]]]  # window_activities() of the run
    keys: list[str]  # the curated objects in the lake
    counted: list[list[str | None]]  # per day: rows and distinct ids, counted by Athena


@pytest.fixture(scope="module")
def first_run(
    airflow_api: ApiServer, local_aws: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRun]:
    """One ``airflow dags test`` for the interval ending on END - 1 day (its own day: 11-18), on a lake
    without Strava objects; both tests of a real run start from it."""
    from airflow.sdk.bases.hook import BaseHook

    config = get_config()
    log_folder = tmp_path_factory.mktemp("strava-run-logs")
    with StravaStandIn(seeded()) as strava:
        s3 = strava_run_setup(airflow_api, strava, local_aws)
        first_refresh_token = strava.refresh_token
        env = dag_run_env(local_aws, log_folder)
        logical = END - timedelta(days=1) + timedelta(hours=4)
        output = dags_test(logical, env)
        with environment(_AIRFLOW_PROCESS_CONTEXT="server"):
            stored = BaseHook.get_connection(config.strava.conn_id).extra_dejson
        table_name = f"{config.strava.database}.{config.strava.table}"
        yield FirstRun(
            strava=strava,
            env=env,
            logical=logical,
            logs=[output, *texts_under(log_folder)],
            first_refresh_token=first_refresh_token,
            issued_refresh_token=strava.refresh_token,
            stored=stored,
            rate_limits=airflow_api.call("GET", "/variables/datalake_strava_rate_limits"),
            usage=dict(strava.state()["usage"]),
            days=window_activities(strava, logical),
            keys=list_objects(s3, config.lake.bucket, CURATED_PREFIX),
            counted=athena_rows(
                f"SELECT dt, count(*), count(DISTINCT id) FROM {table_name} "  # noqa: S608
                "GROUP BY dt ORDER BY dt"
            ),
        )


@pytest.mark.e2e
def test_no_token_value_reaches_any_log_of_a_real_run(first_run: FirstRun) -> None:
    run, strava = first_run, first_run.strava
    assert "success" in run.logs[0].lower()

    # the token task refreshed, rotated and persisted
    assert run.stored["refresh_token"] == run.issued_refresh_token != run.first_refresh_token
    secrets = [run.first_refresh_token, run.stored["refresh_token"], run.stored["access_token"]]
    for text in run.logs:
        for secret in [*secrets, strava.client_secret]:
            assert secret not in text

    # the extraction recorded the rate-limit usage it saw, for the next run's first request
    assert run.rate_limits.status_code == 200, run.rate_limits.text
    recorded = json.loads(run.rate_limits.json()["value"])
    seen = (run.usage["read_15min"], run.usage["read_daily"])
    assert (recorded["usage_15"], recorded["usage_day"]) == seen > (0, 0)
    assert (recorded["limit_15"], recorded["limit_day"]) == tuple(strava.read_limit)

    # the window landed: one snapshot per day with activities, each read by Athena through its partition
    assert sorted(run.keys) == sorted(f"{CURATED_PREFIX}/dt={day}/activities.parquet" for day in run.days)
    assert run.counted == [[day, str(len(found)), str(len(found))] for day, found in sorted(run.days.items())]
    assert sum(len(found) for found in run.days.values()) > 0


def window_activities(strava, interval_end: datetime) -> dict[str, list[dict]]:
    """The stand-in's activities of each day of the window of the run ending at ``interval_end``."""
    from datalake.strava.tasks import window_of

    window = window_of(interval_end, get_config())
    found: dict[str, list[dict]] = {}
    for activity in sorted(strava.activities, key=lambda a: (a["start_date"], a["id"])):
        day = datetime.fromisoformat(activity["start_date"]).date()
        if day in window:
            found.setdefault(day.isoformat(), []).append(activity)
    return found


def dags_test(logical: datetime, env: dict[str, str]) -> str:
    """``airflow dags test strava_activities`` at ``logical``, which runs the interval that ends there (as
    a manual run does); its output."""
    run = subprocess.run(
        [AIRFLOW, "dags", "test", "strava_activities", logical.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    return output


def strava_run_setup(airflow_api: ApiServer, strava: Any, local_aws: str) -> Any:
    """A lake without Strava objects (another test's run wrote some) and the stand-in's connections in
    the API server, for a real run of the DAG; the S3 client of the lake."""
    config = get_config()
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    create_lake_buckets(local_aws)
    empty_strava_lake(s3, config.lake.bucket)
    put_strava_connections(airflow_api, strava, strava_conn_id=config.strava.conn_id)
    return s3


def empty_strava_lake(s3, bucket: str) -> None:
    """The lake of the configuration in use without Strava objects (another test's run wrote some)."""
    for prefix in (CURATED_PREFIX, RAW_PREFIX):
        for key in list_objects(s3, bucket, prefix):
            s3.delete_object(Bucket=bucket, Key=key)


@pytest.mark.e2e
def test_a_days_late_upload_deletion_and_rename_reach_the_table_and_the_summaries_after_the_next_run(
    first_run: FirstRun, airflow_api: ApiServer
) -> None:
    from datalake.reports.plan import changed_days

    config = get_config()
    strava, first, before = first_run.strava, first_run.logical, first_run.days
    assert len(before) >= 3

    late_day, deleted_day, renamed_day = sorted(before)[-1], sorted(before)[-2], sorted(before)[-3]
    template = {k: v for k, v in before[late_day][0].items() if k != "id"}
    late = strava.upload({**template, "start_date": f"{late_day}T23:00:00Z", "name": "Synced late"})
    deleted = before[deleted_day][0]["id"]
    strava.delete(deleted)
    renamed = before[renamed_day][-1]["id"]
    strava.edit(renamed, name="Renamed in Strava", sport_type="TrailRun")

    second = first + timedelta(days=1)
    dags_test(second, first_run.env)
    after = window_activities(strava, second)
    table_name = f"{config.strava.database}.{config.strava.table}"
    low, high = min(after), max(after)
    table = athena_rows(
        f"SELECT dt, id, name, sport_type FROM {table_name} "  # noqa: S608 - the configuration's names
        f"WHERE dt BETWEEN '{low}' AND '{high}' ORDER BY dt, start_date, id"
    )
    assert table == [
        [day, str(a["id"]), a["name"], a["sport_type"]] for day in sorted(after) for a in after[day]
    ]
    rows = {int(row[1]): row for row in table}
    assert rows[late["id"]][2] == "Synced late"
    assert deleted not in rows
    assert rows[renamed][2:] == ["Renamed in Strava", "TrailRun"]
    # strava.details is on: every activity of the window has its detailed view, the deleted one none
    details = athena_rows(
        f"SELECT dt, activity_id FROM {config.strava.database}.activity_details "  # noqa: S608
        f"WHERE dt BETWEEN '{low}' AND '{high}' ORDER BY dt, start_date, activity_id"
    )
    assert details == [row[:2] for row in table]

    # each run's asset event names the days it rewrote; the summaries' plan reads them from there
    answer = airflow_api.call(
        "GET", "/assets/events", params={"source_dag_id": "strava_activities", "limit": 100}
    )
    assert answer.status_code == 200, answer.text
    events = sorted(answer.json()["asset_events"], key=lambda e: e["timestamp"])
    first_extra, second_extra = (e["extra"] for e in events[-2:])  # the module's two runs are the newest
    assert first_extra == {"days": sorted(before)}  # an empty lake: every day with activities is new
    changed = {late_day, deleted_day, renamed_day}
    new_day = (second - timedelta(days=1)).date().isoformat()  # this run's own day, new in its window
    assert second_extra == {"days": sorted(changed | ({new_day} if new_day in after else set()))}
    assert changed_days({"strava_activities": [SimpleNamespace(extra=second_extra)]}) == set(
        second_extra["days"]
    )
