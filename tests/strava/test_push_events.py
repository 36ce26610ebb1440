"""Push events end to end in one process: the stand-in pushes through the webhook Lambda's code into a
real SQS queue of the local AWS, and a run started by those messages re-reconciles the days they touch
with the daily run's code, its table read back by the local Athena (which really runs SQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import boto3
import jinja2
import pytest
import requests

from datalake.config import SQL_DIR, get_config
from datalake.events import queue_asset
from datalake.strava import tasks as strava_tasks
from datalake.strava.extract import extract_window
from datalake.strava.hook import StravaHook
from datalake.strava.layout import CURATED_PREFIX, RAW_PREFIX, run_label
from datalake.strava.window import Window
from devstack.strava_api import StravaStandIn, webhook_handler
from tests.athena import run_sql
from tests.environment import environment
from tests.events import triggering_events
from tests.queues import drain, subscribed
from tests.strava.conftest import END, create_lake_buckets, list_objects, seeded, strava_conn_uri_env

VERIFY = "verify-token-of-this-test"
FIRST = (END - timedelta(days=5)).date()  # the seeded days: FIRST .. END - 1 day
LAST = (END - timedelta(days=1)).date()


def fresh_tokens(standin: StravaStandIn) -> dict[str, Any]:
    """Tokens as the token task leaves them in the connection (so the extraction needs no refresh)."""
    answer = requests.post(
        f"{standin.base_url}/oauth/token",
        data={
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": standin.refresh_token,
        },
        timeout=10,
    )
    answer.raise_for_status()
    body = answer.json()
    return {k: body[k] for k in ("refresh_token", "access_token", "expires_at")}


def render(name: str, **context: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=jinja2.StrictUndefined)  # noqa: S701
    return env.get_template(f"strava/{name}.sql").render(
        params=strava_tasks.sql_params(get_config()), **context
    )


@pytest.fixture
def pushing(local_aws: str) -> Iterator[tuple[StravaStandIn, Any]]:
    """The stand-in with the Lambda's code subscribed to the configured (emptied) events queue, and a
    lake filled by a daily run's extraction of the seeded days, registered in the table."""
    config = get_config()
    create_lake_buckets(local_aws)
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    for prefix in (CURATED_PREFIX, RAW_PREFIX):
        for key in list_objects(s3, config.lake.bucket, prefix):
            s3.delete_object(Bucket=config.lake.bucket, Key=key)
    sqs = boto3.client("sqs", endpoint_url=local_aws, region_name="us-east-1")
    queue_url = config.strava.events_queue_url
    sqs.create_queue(QueueName=queue_url.rsplit("/", 1)[1])
    drain(sqs, queue_url)  # what an earlier test left (PurgeQueue allows one call a minute)
    handler = webhook_handler()
    with StravaStandIn(seeded()) as standin:
        standin.subscribe(partial(handler.handle, sqs=sqs, queue_url=queue_url, verify_token=VERIFY), VERIFY)
        name, value = strava_conn_uri_env(config.strava.conn_id, standin, **fresh_tokens(standin))
        with environment(**{name: value}):
            hook = StravaHook(config.strava.conn_id)
            extract_window(
                hook.client(), s3, config.lake.bucket, Window(FIRST, LAST), run_label=run_label(END)
            )
            athena = boto3.client("athena", endpoint_url=local_aws, region_name="us-east-1")
            run_sql(athena, render("create_database"))
            run_sql(athena, render("create_table"))
            days = [(FIRST + timedelta(days=i)).isoformat() for i in range((LAST - FIRST).days + 1)]
            run_sql(
                athena, render("add_partitions", strava_window_days=lambda _end: days, data_interval_end=END)
            )
            yield standin, SimpleNamespace(s3=s3, sqs=sqs, athena=athena, queue_url=queue_url)


def received_events(sqs: Any, queue_url: str, expected: int) -> Any:
    """``triggering_asset_events`` of the run the queue's messages start, as the watcher hands them over
    (the messages deleted as the watcher deletes them)."""

    messages = drain(sqs, queue_url)
    assert len(messages) == expected, [m["Body"] for m in messages]
    return triggering_events(queue_asset(queue_url), [{"message_batch": messages}])


def push_run(config: Any, aws: Any, expected: int) -> dict[str, Any]:
    """The extraction of a run the queue started, on the ``expected`` messages waiting in it."""
    return strava_tasks.extract_activities(
        None,
        None,
        config,
        hook=StravaHook(config.strava.conn_id),
        s3_client=aws.s3,
        dag_run=SimpleNamespace(run_type="asset_triggered", run_after=datetime.now(UTC)),
        triggering_asset_events=received_events(aws.sqs, aws.queue_url, expected=expected),
    )


def by_day(standin: StravaStandIn) -> dict[str, list[dict[str, Any]]]:
    days: dict[str, list[dict[str, Any]]] = {}
    for activity in sorted(standin.activities, key=lambda a: (a["start_date"], a["id"])):
        days.setdefault(activity["start_date"][:10], []).append(activity)
    return days


def table(athena: Any) -> list[list[str | None]]:
    config = get_config()
    return run_sql(
        athena,
        f"SELECT dt, id, name FROM {config.strava.database}.{config.strava.table} "  # noqa: S608
        f"WHERE dt BETWEEN '{FIRST}' AND '{LAST}' ORDER BY dt, start_date, id",
    )


def test_a_pushed_deletion_edit_and_old_dated_upload_reach_the_table_in_one_run(pushing) -> None:
    standin, aws = pushing
    config = get_config()
    before = by_day(standin)
    assert len(before) >= 3
    deleted_day, renamed_day, upload_day = sorted(before)[-1], sorted(before)[-2], FIRST.isoformat()
    deleted = before[deleted_day][0]["id"]
    renamed = before[renamed_day][-1]["id"]
    template = {k: v for k, v in before[deleted_day][0].items() if k != "id"}
    # a file uploaded weeks after its day: neither the lake nor the recent days know it
    standin.apply_history(
        {
            "upload": [{**template, "start_date": f"{upload_day}T21:00:00Z", "name": "Uploaded weeks later"}],
            "edit": [{"id": renamed, "name": "Renamed in Strava"}],
            "delete": [deleted],
            "push": True,
        }
    )
    assert [status for _event, status in standin.pushed] == [200, 200, 200]
    uploaded = standin.pushed[0][0]["object_id"]
    listed_before = standin.state()["requests"]["by_path"].get("/api/v3/athlete/activities", 0)

    extracted = push_run(config, aws, expected=3)

    assert extracted["events"] == {
        "created": 1,
        "updated": 1,
        "deleted": 1,
        "deauthorisations": 0,
        "ignored": 0,
    }
    changed = {upload_day, renamed_day, deleted_day}
    assert set(extracted["days"]) == changed
    assert extracted["fetched"] == 1  # only the upload the listed days did not show
    by_path = standin.state()["requests"]["by_path"]
    detail_calls = sum(details["api_calls"] for details in extracted["details"])  # strava.details is on
    listed = by_path.get("/api/v3/athlete/activities", 0) - listed_before
    assert listed == extracted["api_calls"] - 1 - detail_calls
    # the days of the run's listings are registered as partitions (the DAG's add_partitions)
    days = strava_tasks.pushed_days(extracted, "listed_days", config)
    run_sql(aws.athena, render("add_partitions", strava_window_days=lambda _end: days, data_interval_end=END))
    now = by_day(standin)
    assert table(aws.athena) == [
        [day, str(a["id"]), a["name"]]
        for day in sorted(now)
        if FIRST.isoformat() <= day <= LAST.isoformat()
        for a in now[day]
    ]
    rows = {int(row[1]): row[2] for row in table(aws.athena)}
    assert deleted not in rows
    assert rows[renamed] == "Renamed in Strava"
    assert rows[uploaded] == "Uploaded weeks later"
    assert strava_tasks.asset_extra(extracted, None, config) == {"days": sorted(changed)}


def test_a_deleted_activity_the_lake_never_held_costs_no_listing(pushing) -> None:
    standin, aws = pushing
    config = get_config()
    gone = standin.upload({**standin.activities[0], "id": 9_900_000_001, "start_date": f"{LAST}T22:00:00Z"})
    standin.apply_history({"delete": [gone["id"]], "push": True})
    calls_before = standin.state()["requests"]["total"]

    extracted = push_run(config, aws, expected=1)

    assert extracted["days"] == []
    assert extracted["listed_days"] == []
    assert standin.state()["requests"]["total"] == calls_before


def test_pushed_days_refuse_an_edited_xcom() -> None:
    config = get_config()
    assert strava_tasks.pushed_days({"listed_days": ["2026-11-19", "2026-11-18"]}, "listed_days", config) == [
        "2026-11-18",
        "2026-11-19",
    ]
    for bad in (["2026-11-19'); DROP TABLE x; --"], ["2024-12-31"], ["2026-02-30"], [20261119], "2026-11-19"):
        with pytest.raises(ValueError, match="listed_days"):
            strava_tasks.pushed_days({"listed_days": bad}, "listed_days", config)


def test_an_event_body_that_is_no_strava_event_is_named_and_ignored() -> None:
    from datalake.events import QueueMessage
    from datalake.strava.push import sort_events

    batch = sort_events(
        [
            QueueMessage("m1", "not json"),
            QueueMessage(
                "m2",
                json.dumps(
                    {"object_type": "activity", "aspect_type": "delete", "object_id": 5, "owner_id": 1}
                ),
            ),
            QueueMessage(
                "m3",
                json.dumps(
                    {
                        "object_type": "athlete",
                        "aspect_type": "update",
                        "object_id": 1,
                        "owner_id": 1,
                        "updates": {"authorized": "false"},
                    }
                ),
            ),
            QueueMessage(
                "m4",
                json.dumps(
                    {"object_type": "segment", "aspect_type": "create", "object_id": 1, "owner_id": 1}
                ),
            ),
        ]
    )
    assert batch.deleted == [5]
    assert [e.owner_id for e in batch.deauthorisations] == [1]
    assert [line.split(":")[0] for line in batch.ignored] == ["message m1", "message m4"]


@pytest.fixture
def alert_inbox(local_aws: str) -> Iterator[Any]:
    """A fresh queue subscribed to the configured alert topic: what a person subscribed would get."""
    config = get_config()
    sns = boto3.client("sns", endpoint_url=local_aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=local_aws, region_name="us-east-1")
    topic_arn = sns.create_topic(Name=config.alerts.sns_topic_arn.rsplit(":", 1)[1])["TopicArn"]
    with subscribed(sns, sqs, topic_arn, "push-alerts") as receive:
        yield lambda: [envelope["Message"] for envelope in receive()]


def token_task_dag(dag_id: str, outcomes: list[str], triggering_asset_events: Any = None) -> Any:
    """One task: the Strava DAG's token step, in a run the queue started (``triggering_asset_events``)
    or in a scheduled one; with the package's failure alert. What it raised goes to ``outcomes``."""
    from airflow.sdk import dag, task

    from datalake.alerts import task_failure_alert

    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
    def token_step() -> None:
        @task(retries=0, on_failure_callback=[task_failure_alert()])
        def refresh_token() -> None:
            run = SimpleNamespace(run_type="asset_triggered" if triggering_asset_events else "scheduled")
            try:
                strava_tasks.refresh_token(None, dag_run=run, triggering_asset_events=triggering_asset_events)
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
                raise
            outcomes.append("ok")

        refresh_token()

    return token_step()


def test_a_deauthorisation_alerts_at_once_and_stops_strava_calls_until_a_new_refresh_token(
    pushing, alert_inbox, airflow_db, metastore_reads
) -> None:
    from airflow.sdk import Variable

    from datalake.strava.authorisation import DEAUTHORISED_VARIABLE
    from tests.dags import run_dag

    standin, aws = pushing
    config = get_config()
    revoked = standin.refresh_token
    standin.apply_history({"deauthorise": True, "push": True})
    events = received_events(aws.sqs, aws.queue_url, expected=1)
    tokens_before = standin.state()["requests"]["by_path"].get("/oauth/token", 0)

    outcomes: list[str] = []
    pushed = run_dag(token_task_dag("strava_push_deauthorised", outcomes, events))
    assert pushed.state == "failed"
    assert outcomes[0].startswith("StravaDeauthorised: Strava athlete 31337042 revoked this app's access on ")
    alerts = alert_inbox()
    assert len(alerts) == 1
    assert "Re-authorise the Strava app in a browser" in alerts[0]
    assert revoked not in alerts[0]
    record = Variable.get(DEAUTHORISED_VARIABLE, default=None, deserialize_json=True)
    assert set(record) == {"conn_id", "refresh_token", "event_time"}
    assert revoked not in json.dumps(record)  # a fingerprint, never the token

    # the next scheduled run calls Strava no more while the connection holds the revoked token
    scheduled = run_dag(token_task_dag("strava_push_still_deauthorised", outcomes))
    assert scheduled.state == "failed"
    assert "still holds the refresh token of before" in outcomes[1]
    assert standin.state()["requests"]["by_path"].get("/oauth/token", 0) == tokens_before

    # a person re-authorises: a new refresh token in the connection, and the runs go on
    name, value = strava_conn_uri_env(config.strava.conn_id, standin, **fresh_tokens(standin))
    with environment(**{name: value}):
        resumed = run_dag(token_task_dag("strava_push_reauthorised", outcomes))
    assert resumed.state == "success"
    assert outcomes[2] == "ok"
    assert Variable.get(DEAUTHORISED_VARIABLE, default=None) is None


def test_days_at_most_a_week_apart_are_listed_in_one_pass() -> None:
    from datalake.strava.extract import windows_of

    days = [date(2026, 11, 1), date(2026, 11, 8), date(2026, 11, 3), date(2026, 11, 16), date(2026, 11, 16)]
    assert windows_of(days) == [
        Window(date(2026, 11, 1), date(2026, 11, 8)),
        Window(date(2026, 11, 16), date(2026, 11, 16)),
    ]
    assert windows_of([]) == []
