"""Fixtures of the operations tests: a configuration of their own, the alert topic read back through SQS,
a Slack incoming webhook stand-in, Airflow's metadata DB, and a way to run a project DAG with
``dag.test()`` as the scheduler would.

The configuration copies ``include/datalake.yaml`` with names unique to the session (buckets, the SNS
topic), so these tests neither see nor disturb what other tests put on the shared local AWS.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.environment import environment
from tests.queues import subscribed

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PROCESS_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


@pytest.fixture(scope="module")
def ops_config(local_aws: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The package's configuration with session-unique names, active through ``DATALAKE_CONFIG``."""
    from datalake.config import CONFIG_ENV_VAR, get_config

    suffix = uuid.uuid4().hex[:8]
    raw = yaml.safe_load((ROOT / "include" / "datalake.yaml").read_text())
    raw["lake"]["bucket"] = f"ops-lake-{suffix}"
    raw["athena"]["results_bucket"] = f"ops-results-{suffix}"
    raw["reports"]["bucket"] = f"ops-reports-{suffix}"
    for inv in raw["inventories"]:
        inv["destination_bucket"] = f"ops-inventory-{suffix}"  # never created: no drop can be found
    # these runs make the activities table only; the report's detail sections (gear, calories) are
    # checked over a real run's detail tables in tests/strava/test_detail_reports.py
    raw["strava"]["details"] = False
    raw["alerts"]["notifier"] = "sns"
    raw["alerts"]["sns_topic_arn"] = f"arn:aws:sns:{REGION}:123456789012:ops-alerts-{suffix}"
    path = tmp_path_factory.mktemp("ops-config") / "datalake.yaml"
    path.write_text(yaml.safe_dump(raw))

    # dag.test() runs DAG-level callbacks in this process, where the Task SDK finds no supervisor and,
    # unless told it is a server process, no metadata DB either. In production they run in the
    # dag-processor, whose supervisor reads Variables from the same DB (tests/e2e cover that path).
    with environment(**{CONFIG_ENV_VAR: str(path), PROCESS_CONTEXT: "server"}):
        config = get_config()
        s3 = boto3.client("s3", endpoint_url=local_aws, region_name=REGION)
        for bucket in {config.lake.bucket, config.athena.results_bucket, config.reports.bucket}:
            s3.create_bucket(Bucket=bucket)
        yield config


@dataclass
class AlertInbox:
    """An SQS queue subscribed to the alert topic: what a person subscribed to the topic would get."""

    receive: Callable[[], list[dict[str, Any]]]  # tests.queues.subscribed

    def messages(self) -> list[dict[str, str]]:
        """Every alert delivered so far (``Subject``, ``Message``), taken off the queue."""
        return [{"Subject": e.get("Subject") or "", "Message": e["Message"]} for e in self.receive()]


@pytest.fixture
def alert_inbox(ops_config: Any, local_aws: str) -> Iterator[AlertInbox]:
    """A fresh queue subscribed to the configured alert topic (both created here), for one test."""
    sns = boto3.client("sns", endpoint_url=local_aws, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=local_aws, region_name=REGION)
    topic_arn = sns.create_topic(Name=ops_config.alerts.sns_topic_arn.rsplit(":", 1)[1])["TopicArn"]
    assert topic_arn == ops_config.alerts.sns_topic_arn
    with subscribed(sns, sqs, topic_arn, "ops-alerts") as receive:
        yield AlertInbox(receive)


@dataclass
class SlackWebhook:
    """A Slack incoming webhook on 127.0.0.1: it answers ``ok`` as Slack does and keeps every POST."""

    url: str  # the whole webhook URL, secret token included, as Slack hands it out
    token: str
    posts: list[tuple[str, bytes]] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies POSTed to the webhook's own path (anything else is a test failure)."""
        paths = {path for path, _ in self.posts}
        assert paths <= {"/services/" + self.token}, "a POST went elsewhere than the webhook path"
        return [json.loads(body) for _, body in self.posts]


def _webhook_handler(posts: list[tuple[str, bytes]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            posts.append((self.path, body))
            answer = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:  # the path holds the token: no access log
            pass

    return Handler


@pytest.fixture
def slack_webhook(ops_config: Any, tmp_path: Path) -> Iterator[SlackWebhook]:
    """``alerts.notifier: slack``, its webhook connection (an ``AIRFLOW_CONN_*`` variable, the webhook
    URL as password) pointing at a local webhook, for one test; the SNS configuration is back after."""
    from datalake.config import CONFIG_ENV_VAR

    token = f"T{secrets.token_hex(4).upper()}/B{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
    posts: list[tuple[str, bytes]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(posts))
    url = f"http://127.0.0.1:{server.server_port}/services/{token}"
    webhook = SlackWebhook(url=url, token=token, posts=posts)
    thread = threading.Thread(target=server.serve_forever, name="slack-webhook", daemon=True)
    thread.start()

    raw = yaml.safe_load(Path(ops_config.source).read_text())
    raw["alerts"]["notifier"] = "slack"
    raw["alerts"]["slack_conn_id"] = "ops_slack_alerts"
    path = tmp_path / "datalake.yaml"
    path.write_text(yaml.safe_dump(raw))
    conn_var = "AIRFLOW_CONN_OPS_SLACK_ALERTS"
    connection = json.dumps({"conn_type": "slackwebhook", "password": webhook.url})
    try:
        with environment(**{CONFIG_ENV_VAR: str(path), conn_var: connection}):
            yield webhook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
