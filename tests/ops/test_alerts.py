"""Failure alerts reach a person exactly once, say what failed and where to look, and carry no secret.

Every DAG of the package is run for real with ``dag.test()`` (tasks in the Task SDK's runner, the
provider's SNS notifier publishing to the local AWS) with a failure forced from outside: a revoked Strava
refresh token, an inventory drop that never came, a destination bucket that does not exist. The alert is
read back from an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from datetime import UTC, datetime

import pytest

from devstack.strava_api import StravaStandIn, seed_activities
from tests.dags import parsed_dag, run_dag
from tests.masking import fresh_masker

pytestmark = pytest.mark.usefixtures("airflow_db")

FIELDS = re.compile(
    r"^DAG: (?P<dag>\S+)\nTask: (?P<task>.+)\nRun: (?P<run>\S+)\nTry: (?P<try>\S+)\n"
    r"Error: (?P<error>.+)\nLog: (?P<log>http\S+)\n$"
)
PAST = datetime(2026, 11, 2, tzinfo=UTC)


def parse(message: dict[str, str]) -> dict[str, str]:
    match = FIELDS.match(message["Message"])
    assert match, f"not an alert of the agreed shape: {message['Message']!r}"
    return match.groupdict()


def test_a_task_that_fails_after_its_retries_alerts_once_with_dag_task_run_try_error_and_log(alert_inbox):
    from airflow.sdk import DAG, task

    from datalake.dag_defaults import dag_failure_callbacks, default_args

    leaked = secrets.token_hex(20)

    with DAG(
        "ops_always_fails",
        schedule=None,
        start_date=PAST,
        default_args=default_args(retries=2),
        on_failure_callback=dag_failure_callbacks(),
    ) as dag:

        @task
        def call_the_service() -> None:
            raise RuntimeError(f"the service said no\n(request had Authorization: Bearer {leaked})")

        call_the_service()

    run = run_dag(dag)

    messages = alert_inbox.messages()
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert fields["dag"] == "ops_always_fails"
    assert fields["task"] == "call_the_service"
    assert fields["run"] == run.run_id
    assert fields["try"] == "3"  # two retries, then the final failure: one alert
    assert fields["error"].startswith("RuntimeError: the service said no (request had Authorization: ***")
    assert "/dags/ops_always_fails/runs/" in fields["log"]
    assert "/tasks/call_the_service" in fields["log"]
    assert messages[0]["Subject"] == "[datalake] ops_always_fails.call_the_service failed"
    assert leaked not in json.dumps(messages)


def test_a_task_that_could_not_alert_itself_is_alerted_once_at_dag_level(alert_inbox):
    """As when a task is killed (SIGKILL, out of memory) before its own callback could run."""
    from airflow.sdk import DAG, task

    from datalake.dag_defaults import dag_failure_callbacks, default_args

    with DAG(
        "ops_killed_task",
        schedule=None,
        start_date=PAST,
        default_args=default_args(retries=0),
        on_failure_callback=dag_failure_callbacks(),
    ) as dag:

        @task(on_failure_callback=[])
        def run_out_of_memory() -> None:
            raise MemoryError

        run_out_of_memory()

    run = run_dag(dag)

    messages = alert_inbox.messages()
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["dag"], fields["task"], fields["run"]) == (
        "ops_killed_task",
        "run_out_of_memory",
        run.run_id,
    )
    assert "failed without sending its own alert" in fields["error"]
    assert fields["log"].endswith(
        f"/dags/ops_killed_task/runs/{run.run_id.replace('+', '%2B').replace(':', '%3A')}"
        "/tasks/run_out_of_memory"
    )


def test_strava_with_a_connection_it_cannot_update_alerts_once_saying_what_to_do(
    alert_inbox, ops_config, monkeypatch
):
    """A stale access token in a connection defined as an environment variable: refreshing could lose
    a rotated refresh token, so the run stops at once and the alert says what to do."""
    revoked = secrets.token_hex(20)
    stale_access = secrets.token_hex(20)
    with StravaStandIn(seed_activities(5)) as strava:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{ops_config.strava.conn_id.upper()}",
            json.dumps(
                {
                    "conn_type": "strava",
                    "host": strava.base_url,
                    "login": strava.client_id,
                    "password": strava.client_secret,
                    "extra": {"refresh_token": revoked, "access_token": stale_access, "expires_at": 1},
                }
            ),
        )
        run = run_dag(parsed_dag("strava_activities"), logical_date=PAST)

        messages = alert_inbox.messages()
    assert run.state == "failed"
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["dag"], fields["task"], fields["run"], fields["try"]) == (
        "strava_activities",
        "refresh_token",
        run.run_id,
        "1",  # retrying cannot help until a person acts: no retries
    )
    assert "cannot update" in fields["error"]
    assert "refresh was not attempted" in fields["error"]
    text = json.dumps(messages)
    assert revoked not in text
    assert stale_access not in text
    assert strava.client_secret not in text


def test_an_inventory_drop_missing_past_its_deadline_alerts_once(alert_inbox, ops_config, local_aws):
    import boto3

    inventory = parsed_dag(ops_config.inventories[0].dag_id)
    bucket = ops_config.inventories[0].destination_bucket
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)  # the destination exists, the drop never came
    try:
        run = run_dag(inventory, logical_date=PAST)
    finally:
        s3.delete_bucket(Bucket=bucket)

    messages = alert_inbox.messages()
    assert run.state == "failed"
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["dag"], fields["task"], fields["run"], fields["try"]) == (
        inventory.dag_id,
        "wait_for_drop",
        run.run_id,
        "1",
    )
    assert "no complete drop" in fields["error"]
    assert ops_config.inventories[0].destination_bucket in fields["error"]


def test_inventory_maintenance_failing_on_every_try_alerts_once(alert_inbox):
    run = run_dag(parsed_dag("s3_inventory_maintenance"), run_conf={"apply": False})

    messages = alert_inbox.messages()
    assert run.state == "failed"
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["dag"], fields["run"], fields["try"]) == ("s3_inventory_maintenance", run.run_id, "3")
    assert fields["task"].startswith("repair_inventory [map index 0]")
    assert "NoSuchBucket" in fields["error"]


def test_daily_summaries_failing_on_every_try_alerts_once(alert_inbox):
    run = run_dag(parsed_dag("daily_summaries"), run_conf={"day": "2026-11-02"})

    messages = alert_inbox.messages()
    assert run.state == "failed"
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["dag"], fields["task"], fields["run"], fields["try"]) == (
        "daily_summaries",
        "find_partitions",
        run.run_id,
        "3",
    )
    assert "NoSuchBucket" in fields["error"]


def test_a_late_summary_run_alerts_once_from_its_deadline_callback(alert_inbox):
    """The callback as Airflow's triggerer calls it when a DeadlineAlert is missed."""
    from datalake.alerts import deadline_missed_alert

    context = {
        "dag_run": {
            "dag_id": "daily_summaries",
            "dag_run_id": "asset_triggered__2026-11-26",
            "state": "running",
        },
        "deadline": {"id": "d-1", "deadline_time": "2026-11-26T07:00:00+00:00"},
    }
    asyncio.run(deadline_missed_alert(context=context))

    messages = alert_inbox.messages()
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert messages[0]["Subject"] == "[datalake] daily_summaries is late"
    assert (fields["dag"], fields["run"]) == ("daily_summaries", "asset_triggered__2026-11-26")
    assert "late" in fields["error"]
    assert "2026-11-26T07:00:00+00:00" in fields["error"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("401 for Authorization: Bearer 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "0a1b2c3d4e5f6071"),
        ('body {"access_token": "a9b8c7d6e5f4a3b2c1d0", "expires_at": 1}', "a9b8c7d6e5f4a3b2c1d0"),
        ("refresh_token=Zm9vYmFyYmF6cXV4MTIz&grant_type=refresh_token", "Zm9vYmFyYmF6cXV4MTIz"),
        ("could not reach https://admin:hunter2@api.example.com/v1", "hunter2"),
        ("client_secret: 's3cr3t-value'", "s3cr3t-value"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "eyJhbGciOiJIUzI1NiJ9",
        ),
    ],
)
def test_an_error_line_never_carries_a_credential(text, secret):
    from datalake.alerts import one_line

    line = one_line(RuntimeError(text))
    assert secret not in line
    assert "***" in line


@pytest.fixture
def own_masker():
    """A fresh secrets masker for the test, and another after it: what it registers stays with it."""
    fresh_masker()
    yield
    fresh_masker()


@pytest.mark.parametrize("registered", ["secret", "client", "_secret", "token", "refresh"])
def test_a_registered_value_inside_a_keys_name_does_not_let_the_keys_value_through(own_masker, registered):
    from datalake.alerts import one_line
    from datalake.redaction import mask

    mask(registered, what="a value a connection holds")
    for text, secret in [
        ("client_secret: 's3cr3t-value'", "s3cr3t-value"),
        ("refresh_token=Zm9vYmFyYmF6cXV4MTIz&grant_type=refresh_token", "Zm9vYmFyYmF6cXV4MTIz"),
    ]:
        line = one_line(RuntimeError(text))
        assert secret not in line, line
        assert registered not in line.replace("RuntimeError", ""), line


def test_an_error_line_keeps_what_a_person_needs():
    from datalake.alerts import one_line

    line = one_line(ValueError("activity 1234567 field distance: expected a number,\n got 'far'"))
    assert line == "ValueError: activity 1234567 field distance: expected a number, got 'far'"
    assert len(one_line("x" * 5000)) == 1500


def test_the_notifier_is_chosen_by_configuration():
    from dataclasses import replace

    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from datalake.alerts import build_notifier
    from datalake.config import load_config

    config = load_config()
    sns = build_notifier(config, "subject", "text")
    assert isinstance(sns, SnsNotifier)
    assert sns.target_arn == config.alerts.sns_topic_arn

    mail = replace(config, alerts=replace(config.alerts, notifier="smtp", smtp_to=("ops@example.com",)))
    smtp = build_notifier(mail, "subject", "a < b")
    assert isinstance(smtp, SmtpNotifier)
    assert smtp.to == ["ops@example.com"]
    assert smtp.html_content == "<pre>a &lt; b</pre>"

    with pytest.raises(ValueError, match="smtp_to is empty"):
        build_notifier(replace(config, alerts=replace(config.alerts, notifier="smtp")), "s", "t")
    with pytest.raises(ValueError, match="must be one of sns, smtp, slack"):
        build_notifier(replace(config, alerts=replace(config.alerts, notifier="pager")), "s", "t")
