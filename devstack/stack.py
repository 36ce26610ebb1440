"""The embedded stack: local AWS, the Strava stand-in and Airflow standalone, started and stopped together.

    python -m devstack.stack up      # start in the background, print the endpoints, return when healthy
    python -m devstack.stack down    # stop everything `up` started
    python -m devstack.stack status  # running or not, and where

Everything lives under ``.stack/`` (git-ignored): Airflow's home (its SQLite metadata DB and task logs),
the services' logs, ``state.json`` (the process groups to stop) and ``endpoints.env`` (``export`` lines
for the aws CLI, boto3, a browser, a test). Every server binds to 127.0.0.1 on a port chosen at run time;
each runs in its own process group.

Every ``up`` starts fresh. The local AWS and the Strava stand-in keep their state in memory, so it ends
with them; Airflow's metadata DB would outlive them and record runs, partitions and tokens that no longer
exist, so ``up`` deletes it with the logs of the stack before. ``down`` stops the processes and leaves
the files, to read what happened until the next ``up``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from datalake.config import DatalakeConfig, get_config
from devstack.airflow import AirflowServer
from devstack.credentials import ACCOUNT_ID, REGION, aws_connection, client, client_environment
from devstack.processes import group_alive, python_module, spawn_until_ready, stop_groups

ROOT = Path(__file__).resolve().parents[1]
ALERT_QUEUE = "datalake-alerts"
INVENTORY_DAYS = 5  # drops written for the days before today, so the latest intervals find theirs


@dataclass
class StackState:
    aws_url: str
    aws_pgid: int
    strava_url: str
    strava_pgid: int
    airflow_url: str
    airflow_pgid: int
    airflow_home: str

    @property
    def pgids(self) -> list[int]:
        return [self.airflow_pgid, self.strava_pgid, self.aws_pgid]


class Stack:
    """The embedded stack rooted at ``directory`` (``.stack/`` by default)."""

    def __init__(self, directory: Path | None = None, config: DatalakeConfig | None = None) -> None:
        self.dir = Path(directory or ROOT / ".stack")
        self.config = config or get_config()
        self.state_file = self.dir / "state.json"
        self.endpoints_file = self.dir / "endpoints.env"
        self.airflow_home = self.dir / "airflow"
        self.logs_dir = self.dir / "logs"
        self.strava_state_file = self.dir / "strava.json"
        self.state: StackState | None = self._read_state()

    # -- state -----------------------------------------------------------------------------------------
    def _read_state(self) -> StackState | None:
        try:
            return StackState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running(self) -> bool:
        return self.state is not None and all(group_alive(p) for p in self.state.pgids)

    @property
    def airflow(self) -> AirflowServer:
        if self.state is None:
            raise RuntimeError("the stack is not running")
        server = AirflowServer(
            Path(self.state.airflow_home), port=int(self.state.airflow_url.rsplit(":", 1)[1])
        )
        server.pgid = self.state.airflow_pgid
        return server

    def aws_client(self, service: str) -> Any:
        if self.state is None:
            raise RuntimeError("the stack is not running")
        return client(service, self.state.aws_url)

    # -- up / down -------------------------------------------------------------------------------------
    def up(self) -> StackState:
        if self.running() and self.state is not None:
            return self.state
        self.down()  # whatever is left of an earlier stack
        self._forget_earlier_stacks()
        started: list[int] = []
        try:
            aws, aws_url = spawn_until_ready(
                python_module("devstack.aws", "--port", "0"), log_path=self.logs_dir / "aws.log"
            )
            started.append(aws.pid)
            # with strava.events_queue_url, the stand-in pushes events through the webhook Lambda's code
            push = self.config.strava.events_queue_url
            push_args = ["--events-queue-url", push, "--aws-endpoint-url", aws_url] if push else []
            strava, strava_url = spawn_until_ready(
                python_module(
                    "devstack.strava_api",
                    "--port",
                    "0",
                    "--state-file",
                    str(self.strava_state_file),
                    *push_args,
                ),
                log_path=self.logs_dir / "strava.log",
            )
            started.append(strava.pid)
            provision_aws(aws_url, self.config)
            write_inventory_drops(aws_url, self.config, today=datetime.now(UTC).date())
            airflow = AirflowServer(
                self.airflow_home, env={"DATALAKE_STACK": "1", **client_environment(aws_url)}
            )
            airflow.start()
            started.append(airflow.pgid or 0)
            self.state = StackState(
                aws_url=aws_url,
                aws_pgid=aws.pid,
                strava_url=strava_url,
                strava_pgid=strava.pid,
                airflow_url=airflow.api_url,
                airflow_pgid=airflow.pgid or 0,
                airflow_home=str(airflow.home),
            )
            self.state_file.write_text(json.dumps(asdict(self.state), indent=2))
            create_connections(airflow, self.config, aws_url, json.loads(self.strava_state_file.read_text()))
            self._write_endpoints(airflow)
        except BaseException:
            stop_groups(started)
            self.state_file.unlink(missing_ok=True)
            self.state = None
            raise
        return self.state

    def down(self) -> None:
        state = self.state or self._read_state()
        if state is not None:
            stop_groups(state.pgids, grace=30)
        self.state_file.unlink(missing_ok=True)
        self.endpoints_file.unlink(missing_ok=True)
        self.state = None

    def _forget_earlier_stacks(self) -> None:
        """Delete what an earlier stack left in the directory: Airflow's home (the run history, which
        the new, empty local AWS would contradict), the services' logs, the stand-in's state file."""
        for path in (self.airflow_home, self.logs_dir):
            shutil.rmtree(path, ignore_errors=True)
        self.strava_state_file.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _write_endpoints(self, airflow: AirflowServer) -> None:
        if self.state is None:
            raise RuntimeError("the stack is not running")
        values = {
            **client_environment(self.state.aws_url),
            "STRAVA_BASE_URL": self.state.strava_url,
            "AIRFLOW_API_URL": airflow.api_url,
            "AIRFLOW_USERNAME": airflow.username,
            "AIRFLOW_PASSWORD": airflow.password,
        }
        lines = [f"export {key}={shlex.quote(value)}" for key, value in values.items()]
        self.endpoints_file.write_text("\n".join(lines) + "\n")
        self.endpoints_file.chmod(0o600)

    def describe(self) -> str:
        if self.state is None:
            return "  (not running)"
        return "\n".join(
            [
                f"  Airflow UI    {self.state.airflow_url}  (user admin, password in "
                f"{Path(self.state.airflow_home) / 'simple_auth_manager_passwords.json.generated'})",
                f"  local AWS     {self.state.aws_url}  (S3, Glue, Athena that runs SQL, SNS, SQS, ...)",
                f"  Strava API    {self.state.strava_url}  (stand-in)",
                f"  endpoints     source {self.endpoints_file}",
            ]
        )


# -- provisioning ---------------------------------------------------------------------------------------
def provision_aws(endpoint_url: str, config: DatalakeConfig) -> None:
    """Buckets, the alert topic with an SQS queue subscribed (so alerts can be read back), the
    inventories' event queues with the bucket notifications that feed them, and the queue of Strava's
    push events."""
    s3 = client("s3", endpoint_url)
    buckets = {config.lake.bucket, config.athena.results_bucket, config.reports.bucket}
    buckets |= {inv.destination_bucket for inv in config.inventories}
    for bucket in sorted(buckets):
        s3.create_bucket(Bucket=bucket)
    if config.alerts.sns_topic_arn:
        sns, sqs = client("sns", endpoint_url), client("sqs", endpoint_url)
        topic_arn = sns.create_topic(Name=config.alerts.sns_topic_arn.rsplit(":", 1)[1])["TopicArn"]
        sqs.create_queue(QueueName=ALERT_QUEUE)
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{ALERT_QUEUE}"
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    provision_inventory_events(endpoint_url, config)
    if config.strava.events_queue_url:  # the queue the webhook Lambda sends Strava's push events to
        client("sqs", endpoint_url).create_queue(QueueName=config.strava.events_queue_url.rsplit("/", 1)[1])


def provision_inventory_events(endpoint_url: str, config: DatalakeConfig) -> None:
    """What the README asks a user to set up for ``inventories[].events_queue_url``: the queue (named as
    its URL names it) with a policy that lets the destination buckets send to it, and on each bucket one
    notification rule per configuration (its base prefix, suffix ``manifest.checksum``). moto then
    delivers each new ``manifest.checksum`` to the queue as S3 does (an s3:TestEvent first)."""
    from datalake.events import queue_arn
    from datalake.inventory.layout import CHECKSUM

    s3, sqs = client("s3", endpoint_url), client("sqs", endpoint_url)
    senders: dict[str, set[str]] = {}  # queue ARN -> the buckets that notify it
    rules: dict[str, list[dict[str, Any]]] = {}  # bucket -> its notification rules
    for inv in config.inventories:
        if inv.events_queue_url is None:
            continue
        arn = queue_arn(inv.events_queue_url)
        senders.setdefault(arn, set()).add(inv.destination_bucket)
        filters = [{"Name": "prefix", "Value": f"{inv.base_prefix}/"}, {"Name": "suffix", "Value": CHECKSUM}]
        rules.setdefault(inv.destination_bucket, []).append(
            {
                "Id": f"{inv.name}-drops",
                "QueueArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": filters}},
            }
        )
    for arn, buckets in sorted(senders.items()):
        policy = queue_policy(arn, sorted(buckets))
        sqs.create_queue(QueueName=arn.rsplit(":", 1)[1], Attributes={"Policy": json.dumps(policy)})
    for bucket, queue_configurations in sorted(rules.items()):
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queue_configurations}
        )


def queue_policy(queue_arn: str, buckets: list[str]) -> dict[str, Any]:
    """The queue policy of the README: Amazon S3 may send messages for these buckets of this account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "inventory-drops",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{b}" for b in buckets]},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
                },
            }
        ],
    }


def write_inventory_drops(
    endpoint_url: str,
    config: DatalakeConfig,
    *,
    today: date,
    days: int = INVENTORY_DAYS,
    anomaly: bool = True,
) -> list[str]:
    """One drop per day for ``today`` and the ``days`` before, for every inventory configuration.

    With ``anomaly``, today's drop also lists :func:`~devstack.inventory_drops.planted_anomaly`: the
    demo's report of today, compared with an earlier day, has an anomaly to alert about.
    A drop's content depends on its day alone, so writing a day again writes the same objects.
    """
    import pyarrow as pa

    from devstack.inventory_drops import generate_objects, planted_anomaly, write_config_drop

    s3 = client("s3", endpoint_url)
    written = []
    for inv in config.inventories:
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            fmt = "CSV" if inv.format == "CSV" else "Parquet"
            table = None
            if anomaly and back == 0:
                table = pa.concat_tables(
                    [
                        generate_objects(day, source_bucket=inv.source_bucket),
                        planted_anomaly(day, source_bucket=inv.source_bucket),
                    ]
                )
            drop = write_config_drop(s3, inv, day, fmt=fmt, table=table)
            written.append(f"{inv.name}:{drop.dt}{' (with the planted anomaly)' if table else ''}")
    return written


def stack_connections(
    config: DatalakeConfig,
    *,
    aws_url: str,
    strava_url: str,
    strava: dict[str, str],
    api_url: str,
    api_username: str,
    api_password: str,
    plain_http: bool = False,
) -> dict[str, dict[str, Any]]:
    """The connections of a local stack by id, fields as the REST API names them: the local AWS, the
    Strava stand-in (its credentials from its state file) and the Airflow API the token task writes to.

    ``plain_http``: the stand-ins are reached over http off loopback (docker-compose's network), which
    the Strava and API connections must opt into (the pipeline requires https elsewhere)."""
    opt_in = {"allow_insecure_http": True} if plain_http else {}
    return {
        config.aws_conn_id: aws_connection(aws_url),
        config.strava.conn_id: {
            "conn_type": "strava",
            "host": strava_url,
            "login": strava["client_id"],
            "password": strava["client_secret"],
            "extra": {"refresh_token": strava["refresh_token"], **opt_in},
        },
        config.strava.airflow_api_conn_id: {
            "conn_type": "http",
            "host": api_url,
            "login": api_username,
            "password": api_password,
            **({"extra": opt_in} if opt_in else {}),
        },
    }


def create_connections(
    airflow: AirflowServer, config: DatalakeConfig, aws_url: str, strava: dict[str, str]
) -> None:
    """The connections of the local stack, created through the REST API (nothing committed)."""
    connections = stack_connections(
        config,
        aws_url=aws_url,
        strava_url=strava["base_url"],
        strava=strava,
        api_url=airflow.api_url,
        api_username=airflow.username,
        api_password=airflow.password,
    )
    for conn_id, fields in connections.items():
        airflow.put_connection(conn_id, **fields)


# -- command line ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The embedded stack of the datalake DAGs.")
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    stack = Stack()
    if args.command == "down":
        stack.down()
        print("stack stopped")
        return 0
    if args.command == "status":
        print("running\n" + stack.describe() if stack.running() else "not running")
        return 0 if stack.running() else 1
    start(stack)
    return 0


def start(stack: Stack) -> None:
    """``up``, saying what it does and where everything is."""
    print("starting the embedded stack (local AWS, Strava stand-in, Airflow standalone) ...", flush=True)
    t0 = time.monotonic()
    stack.up()
    print(f"stack up in {time.monotonic() - t0:.0f}s\n{stack.describe()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
