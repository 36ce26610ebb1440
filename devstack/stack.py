"""The embedded stack: local AWS, the Strava stand-in and Airflow standalone, started and stopped together.

    python -m devstack.stack up      # start in the background, print the endpoints, return when healthy
    python -m devstack.stack down    # stop everything `up` started
    python -m devstack.stack demo    # up, run every DAG for a real interval, summarise
                                     # (DEMO_EXIT=1: then stop everything and exit 0 only if all succeeded)

Everything lives under ``.stack/`` (git-ignored): Airflow's home, the services' logs, ``state.json`` (the
process groups to stop) and ``endpoints.env`` (``export`` lines for the aws CLI, boto3, a browser, a test).
Every server binds to 127.0.0.1 on a port chosen at run time; each runs in its own process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from datalake.config import DatalakeConfig, get_config
from devstack.airflow import AirflowServer
from devstack.credentials import ACCOUNT_ID, REGION, aws_connection, client, client_environment
from devstack.processes import group_alive, python_module, spawn_until_ready, stop_group

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
        self.dir.mkdir(parents=True, exist_ok=True)
        logs = self.dir / "logs"
        started: list[int] = []
        try:
            aws, aws_url = spawn_until_ready(
                python_module("devstack.aws", "--port", "0"), log_path=logs / "aws.log"
            )
            started.append(aws.pid)
            strava_state = self.dir / "strava.json"
            strava, strava_url = spawn_until_ready(
                python_module("devstack.strava_api", "--port", "0", "--state-file", str(strava_state)),
                log_path=logs / "strava.log",
            )
            started.append(strava.pid)
            provision_aws(aws_url, self.config)
            write_inventory_drops(aws_url, self.config, today=datetime.now(UTC).date())
            airflow = AirflowServer(self.dir / "airflow", env={"DATALAKE_STACK": "1"})
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
            create_connections(airflow, self.config, aws_url, json.loads(strava_state.read_text()))
            self._write_endpoints(airflow)
        except BaseException:
            for pgid in reversed(started):
                stop_group(pgid)
            self.state_file.unlink(missing_ok=True)
            self.state = None
            raise
        return self.state

    def down(self) -> None:
        state = self.state or self._read_state()
        if state is not None:
            for pgid in state.pgids:
                stop_group(pgid, grace=30)
        self.state_file.unlink(missing_ok=True)
        self.endpoints_file.unlink(missing_ok=True)
        self.state = None

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
    """Buckets, the alert topic with an SQS queue subscribed (so alerts can be read back), and the
    inventories' event queues with the bucket notifications that feed them."""
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
    endpoint_url: str, config: DatalakeConfig, *, today: date, days: int = INVENTORY_DAYS
) -> list[str]:
    """One drop per day for ``today`` and the ``days`` before, for every inventory configuration.

    A drop's content depends on its day alone, so writing a day again writes the same objects.
    """
    from devstack.inventory_drops import write_config_drop

    s3 = client("s3", endpoint_url)
    written = []
    for inv in config.inventories:
        for back in range(days, -1, -1):
            fmt = "CSV" if inv.format == "CSV" else "Parquet"
            drop = write_config_drop(s3, inv, today - timedelta(days=back), fmt=fmt)
            written.append(f"{inv.name}:{drop.dt}")
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
) -> dict[str, dict[str, Any]]:
    """The connections of a local stack by id, fields as the REST API names them: the local AWS, the
    Strava stand-in (its credentials from its state file) and the Airflow API the token task writes to."""
    return {
        config.aws_conn_id: aws_connection(aws_url),
        config.strava.conn_id: {
            "conn_type": "strava",
            "host": strava_url,
            "login": strava["client_id"],
            "password": strava["client_secret"],
            "extra": {"refresh_token": strava["refresh_token"]},
        },
        config.strava.airflow_api_conn_id: {
            "conn_type": "http",
            "host": api_url,
            "login": api_username,
            "password": api_password,
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


# -- the demo -------------------------------------------------------------------------------------------
def project_dag_ids() -> dict[str, Any]:
    """The project's DAGs, parsed here the way the dag-processor parses them: id -> schedule."""
    import logging
    import warnings

    from airflow.dag_processing.dagbag import DagBag

    logging.getLogger("airflow").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # upstream deprecation notices are not the demo's news
        warnings.simplefilter("ignore")
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return dict(bag.dags)


def run_demo(stack: Stack, timeout: float = 900) -> bool:
    airflow = stack.airflow
    dags = project_dag_ids()
    airflow.wait_for_dags(list(dags))
    started = datetime.now(UTC)
    for dag_id, dag in sorted(dags.items()):
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        if dag.schedule is None:  # run on demand only: the demo triggers it once
            airflow.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
            how = "triggered by hand"
        elif type(dag.timetable).__name__ == "AssetTriggeredTimetable":
            how = "runs when its assets are updated"
        else:
            how = "the scheduler runs its latest interval"
        print(f"  {dag_id}: unpaused, {how}", flush=True)
    asset_driven = {d for d, dag in dags.items() if type(dag.timetable).__name__ == "AssetTriggeredTimetable"}
    deadline = time.monotonic() + timeout
    finished: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(finished) < len(dags):
        for dag_id in dags:
            if dag_id in finished:
                continue
            runs = airflow.api(
                "GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-start_date", "limit": 20}
            )["dag_runs"]
            run = _outcome(runs)
            if run is not None:
                finished[dag_id] = run
                mark = "ok" if run["state"] == "success" else "FAILED"
                print(f"  {dag_id}: {run['dag_run_id']} {mark}", flush=True)
            elif not runs and dag_id in asset_driven and set(dags) - asset_driven <= set(finished):
                # Its producers are done and published nothing new for it (they ran while it was
                # paused, e.g. an earlier backfill): run it once by hand on the data that is there.
                airflow.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
                print(f"  {dag_id}: no new asset events, triggered by hand", flush=True)
        time.sleep(3)
    for dag_id in sorted(set(dags) - set(finished)):
        print(f"  {dag_id}: no finished run after {timeout:.0f}s", flush=True)
    print_summary(stack, finished, started)
    return len(finished) == len(dags) and all(r["state"] == "success" for r in finished.values())


def _outcome(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A DAG's demo outcome: its newest green run; else, once nothing is left running, its newest run."""
    for run in runs:
        if run["state"] == "success":
            return run
    if runs and not any(r["state"] in ("queued", "running") for r in runs):
        return runs[0]
    return None


def print_summary(stack: Stack, runs: dict[str, dict[str, Any]], started: datetime) -> None:
    config = stack.config
    s3, glue, sqs = stack.aws_client("s3"), stack.aws_client("glue"), stack.aws_client("sqs")
    print("\nWhat happened:")
    for dag_id, run in sorted(runs.items()):
        if run.get("data_interval_start"):
            how = f"interval [{run['data_interval_start']}, {run['data_interval_end']})"
        else:
            how = f"({run.get('run_type', 'manual').replace('_', '-')} run)"
        print(f"  {dag_id:28s} {run['state']:8s} {how}")
    for bucket in sorted({config.lake.bucket, config.athena.results_bucket, config.reports.bucket}):
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        ]
        top = sorted({"/".join(k.split("/")[:3]) for k in keys})[:6]
        print(f"  s3://{bucket}: {len(keys)} objects ({', '.join(top)}{' ...' if len(top) == 6 else ''})")
    for db in glue.get_databases()["DatabaseList"]:
        for table in glue.get_tables(DatabaseName=db["Name"])["TableList"]:
            name = f"{db['Name']}.{table['Name']}"
            parts = glue.get_partitions(DatabaseName=db["Name"], TableName=table["Name"])["Partitions"]
            rows = athena_count(stack, name)
            print(f"  Athena table {name}: {len(parts)} partition(s), {rows} rows (counted by Athena)")
    with contextlib.suppress(Exception):
        url = sqs.get_queue_url(QueueName=ALERT_QUEUE)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        print(
            f"  alerts on the SNS topic (read back from SQS {ALERT_QUEUE}): "
            f"{attrs['Attributes']['ApproximateNumberOfMessages']}"
        )
    reports = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=config.reports.bucket, Prefix=config.reports.prefix).get(
            "Contents", []
        )
    ]
    for key in reports[-3:]:
        print(f"  report s3://{config.reports.bucket}/{key}")
    elapsed = (datetime.now(UTC) - started).total_seconds()
    print(f"  all runs finished in {elapsed:.0f}s")


def athena_count(stack: Stack, table: str) -> str:
    """``SELECT count(*)`` through the stack's Athena, which really runs it."""
    athena = stack.aws_client("athena")
    started = athena.start_query_execution(
        QueryString=f"SELECT count(*) FROM {table}",  # noqa: S608 - names from the stack's own Glue
        ResultConfiguration={"OutputLocation": stack.config.athena.output_location("demo")},
        WorkGroup=stack.config.athena.workgroup,
    )
    query_id = started["QueryExecutionId"]
    for _ in range(120):
        state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.5)
    if state["State"] != "SUCCEEDED":
        return f"? ({state.get('StateChangeReason', state['State'])})"
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    return rows[1]["Data"][0]["VarCharValue"]


# -- command line ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The embedded stack of the datalake DAGs.")
    parser.add_argument("command", choices=["up", "down", "demo", "status"])
    args = parser.parse_args(argv)
    stack = Stack()
    if args.command == "down":
        stack.down()
        print("stack stopped")
        return 0
    if args.command == "status":
        print("running\n" + stack.describe() if stack.running() else "not running")
        return 0 if stack.running() else 1
    print("starting the embedded stack (local AWS, Strava stand-in, Airflow standalone) ...", flush=True)
    t0 = time.monotonic()
    was_running = stack.running()
    stack.up()
    print(f"stack up in {time.monotonic() - t0:.0f}s\n{stack.describe()}", flush=True)
    if args.command == "up":
        return 0
    ok = False
    try:
        print("\nrunning every DAG through the scheduler:", flush=True)
        ok = run_demo(stack)
        print(f"\nOpen the Airflow UI at {stack.state.airflow_url if stack.state else '?'} to see the runs.")
        if os.environ.get("DEMO_EXIT") == "1":
            return 0 if ok else 1
        print("The stack keeps serving; press Ctrl-C to stop it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while stack.running():
                time.sleep(1)
        return 0 if ok else 1
    finally:
        if not was_running:  # a stack started by `make up` stays up for its owner
            stack.down()
            print("stack stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
