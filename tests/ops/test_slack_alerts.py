"""With ``alerts.notifier: slack`` a failure reaches a Slack incoming webhook, once, in the agreed shape.

The DAG runs for real with ``dag.test()``; the Slack provider's ``SlackWebhookNotifier`` posts through a
``slackwebhook`` connection to a webhook stand-in on 127.0.0.1, which keeps what it received.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests.dags import run_dag
from tests.ops.test_alerts import FIELDS, PAST

pytestmark = pytest.mark.usefixtures("airflow_db")

SLACK_TEXT = re.compile(r"^\*(?P<subject>[^\n]+)\*\n```(?P<text>.*)```$", re.DOTALL)


def test_a_failure_alerts_once_on_slack_with_dag_task_run_try_error_and_log(slack_webhook, caplog, capfd):
    from airflow.sdk import DAG, task

    from datalake.dag_defaults import dag_failure_callbacks, default_args

    leaked = secrets.token_hex(20)

    with DAG(
        "ops_fails_to_slack",
        schedule=None,
        start_date=PAST,
        default_args=default_args(retries=1),
        on_failure_callback=dag_failure_callbacks(),
    ) as dag:

        @task
        def call_the_service() -> None:
            raise RuntimeError(f"the service said no\n(request had token={leaked})")

        call_the_service()

    run = run_dag(dag)

    messages = slack_webhook.messages()
    assert run.state == "failed"
    assert len(messages) == 1, messages
    body = SLACK_TEXT.match(messages[0]["text"])
    assert body, f"not a Slack alert of the agreed shape: {messages[0]!r}"
    assert body["subject"] == "[datalake] ops_fails_to_slack.call_the_service failed"
    fields = FIELDS.match(body["text"])
    assert fields, f"not an alert of the agreed shape: {body['text']!r}"
    assert fields["dag"] == "ops_fails_to_slack"
    assert fields["task"] == "call_the_service"
    assert fields["run"] == run.run_id
    assert fields["try"] == "2"  # one retry, then the final failure: one alert
    assert fields["error"].startswith("RuntimeError: the service said no (request had token=***")
    assert "/dags/ops_fails_to_slack/runs/" in fields["log"]
    assert "/tasks/call_the_service" in fields["log"]
    assert leaked not in json.dumps(messages)

    secret = slack_webhook.token.rsplit("/", 1)[1]
    captured = capfd.readouterr()
    logged = "\n".join([captured.out, captured.err, *(r.getMessage() for r in caplog.records)])
    assert "ops_fails_to_slack" in logged  # the run's log lines were captured ...
    assert secret not in logged  # ... and the webhook's token is in none of them
