"""The demo: every DAG of the project runs once on the embedded stack, and is judged by what landed.

    python -m devstack.demo     # make demo: up (unless running), run every DAG, say what happened
                                # (DEMO_EXIT=1: then stop what it started; exit 0 only if the demo passed)

**The demo's runs.** A DAG with a time schedule gets a run of its latest complete interval, triggered
while the DAG is still paused, so the scheduler, which runs that interval when the DAG is unpaused,
finds it there and adds none of its own; if that interval has a run already (a stack kept up by
``make up``), the run is cleared and runs again. A DAG run on demand is triggered once. The runs an
inventory's event queue starts (``events_queue_url``) run too. Older runs never count.

**Two days of summaries, in order.** The report of the demo's day should compare it with a day before,
in the daily storage summary, and show the anomaly the stack plants in its newest drop. But the stack's
drops reach the inventory DAG together (its event queue holds them all), and drops registered together
start one summaries run, for the newest day. So ``daily_summaries`` stays paused while the other DAGs
run (each inventory DAG also runs the interval :data:`HISTORY_BACK` before its latest, so that drop is
registered whatever the queue does); once they are done, the demo triggers it for that earlier day and
for its own day, in that order, and unpauses it: the earlier day's row is in the summary table when
the demo's day is summarised, compared with it, and alerts.

**The verdict.** The demo passes when each of its runs succeeded and what they write is there: the
Strava days the run rewrote and its raw listing (written during the demo), its own day's Glue partition
and as many rows counted by Athena as the extraction listed; each inventory run's Glue partition
(unless the table projects its partitions) with rows counted by Athena; the report of every summaries
run (written during the demo). Anything else is listed as missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devstack.airflow import AirflowServer
from devstack.stack import ALERT_QUEUE, ROOT, Stack, start

STRAVA_DAG = "strava_activities"
SUMMARIES_DAG = "daily_summaries"
DEMO_QUERIES = "demo"  # where the verdict's own Athena queries write their results, under the results prefix
FINISHED = ("success", "failed")
ATHENA_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
# S3 keeps LastModified to the second: an object written in the demo's first second is the demo's
CLOCK_SLACK = timedelta(seconds=1)
# the earlier day summarised first: the day before yesterday (yesterday's report would be refreshed
# again by the Strava run's event, which names yesterday)
HISTORY_BACK = 2
ACTIVE = ("queued", "running")
# nothing of the inventories pending for this long (see summarise_days)
SETTLE_SECONDS = 3
POLL_SECONDS = 1  # between two looks at the runs


@dataclass
class Outcome:
    """What one demo did: its runs, what they wrote, and what is missing (nothing: the demo passed)."""

    started: datetime
    runs: dict[str, list[dict[str, Any]]]  # the demo's runs of each DAG, as the REST API last showed them
    rows: dict[str, int] = field(default_factory=dict)  # "<db>.<table> dt=<value>" -> rows counted by Athena
    objects: list[str] = field(default_factory=list)  # s3:// URLs of the objects the runs wrote
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def project_dag_ids() -> dict[str, Any]:
    """The project's DAGs, parsed here the way the dag-processor parses them: id -> DAG."""
    from airflow.dag_processing.dagbag import DagBag

    logging.getLogger("airflow").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # upstream deprecation notices are not the demo's news
        warnings.simplefilter("ignore")
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return dict(bag.dags)


def asset_scheduled(dag: Any) -> bool:
    return type(dag.timetable).__name__ == "AssetTriggeredTimetable"


def run_demo(stack: Stack, timeout: float = 900) -> Outcome:
    """Run every project DAG once through the scheduler, print what happened, and judge it."""
    airflow = stack.airflow
    dags = project_dag_ids()
    airflow.wait_for_dags(list(dags))
    started = datetime.now(UTC).replace(microsecond=0) - CLOCK_SLACK
    deadline = time.monotonic() + timeout
    inventory_dags = {inv.dag_id for inv in stack.config.inventories}
    summaries = dags.get(SUMMARIES_DAG)
    if summaries is not None:  # until the others are done (see the module doc)
        airflow.api("PATCH", f"/dags/{SUMMARIES_DAG}", json={"is_paused": True})
    run_ids = {
        dag_id: start_run(airflow, dag, history=dag_id in inventory_dags)
        for dag_id, dag in sorted(dags.items())
        if dag_id != SUMMARIES_DAG
    }
    if summaries is not None:
        today = datetime.now(UTC).date()
        days = [(today - timedelta(days=HISTORY_BACK)).isoformat(), today.isoformat()]
        run_ids[SUMMARIES_DAG] = summarise_days(stack, run_ids, days, deadline)
    runs = wait_for_runs(airflow, dags, run_ids, started, max(0.0, deadline - time.monotonic()))
    outcome = judge(stack, runs, started)
    print_summary(stack, outcome)
    return outcome


def start_run(airflow: AirflowServer, dag: Any, *, history: bool = False) -> list[str]:
    """Start the demo's runs of ``dag`` (see the module doc) and unpause it; return the runs' ids, none
    for a DAG scheduled on assets (its runs come from the scheduler). ``history``: also run the interval
    :data:`HISTORY_BACK` before the latest."""
    if asset_scheduled(dag):
        run_ids, how = [], "runs when its assets are updated"
    elif dag.schedule is None:
        run_id = airflow.api("POST", f"/dags/{dag.dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]
        run_ids, how = [run_id], f"triggered by hand: {run_id}"
    else:
        now = datetime.now(UTC)
        run_ids, hows = [], []
        for back in (HISTORY_BACK, 0) if history else (0,):
            run_id, how = run_latest_interval(airflow, dag, now - timedelta(days=back))
            run_ids.append(run_id)
            hows.append(how)
        how = "; ".join(hows)
    airflow.unpause(dag.dag_id)
    print(f"  {dag.dag_id}: unpaused, {how}", flush=True)
    return run_ids


def summarise_days(
    stack: Stack, run_ids: dict[str, list[str]], days: list[str], deadline: float
) -> list[str]:
    """Once the runs of ``run_ids`` are done and nothing of the inventories is pending (for
    :data:`SETTLE_SECONDS`), trigger ``daily_summaries`` (paused) for each of ``days`` and unpause it:
    they run in that order (one at a time, the first triggered first). Returns their ids."""
    airflow = stack.airflow
    quiet_since = None
    while time.monotonic() < deadline:
        ours = [
            airflow.api("GET", f"/dags/{d}/dagRuns/{r}")["state"] for d, ids in run_ids.items() for r in ids
        ]
        if not all(state in FINISHED for state in ours) or inventory_pending(stack):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
            break
        time.sleep(POLL_SECONDS)
    ids = [
        airflow.api(
            "POST", f"/dags/{SUMMARIES_DAG}/dagRuns", json={"logical_date": None, "conf": {"day": day}}
        )["dag_run_id"]
        for day in days
    ]
    airflow.api("PATCH", f"/dags/{SUMMARIES_DAG}", json={"is_paused": False})
    print(
        f"  {SUMMARIES_DAG}: unpaused once the others were done, triggered for {' then '.join(days)}",
        flush=True,
    )
    return ids


def inventory_pending(stack: Stack) -> int:
    """What of the inventories is still to run: messages in their event queues (the triggerer takes
    them), and their DAGs' runs and queued asset events (:func:`dag_pending`). Zero for a few seconds
    means the runs the queues start have come and gone: the triggerer turns a message it took into an
    asset event within one poll of its own."""
    sqs = stack.aws_client("sqs")
    return sum(
        dag_pending(stack.airflow, inv.dag_id)
        + (queue_pending(sqs, inv.events_queue_url) if inv.events_queue_url else 0)
        for inv in stack.config.inventories
    )


def dag_pending(airflow: AirflowServer, dag_id: str) -> int:
    """Runs of ``dag_id`` queued or running, and asset events waiting to start one (max_active_runs)."""
    active = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": list(ACTIVE), "limit": 1})
    return active["total_entries"] + queued_asset_events(airflow, dag_id)


def queue_pending(sqs: Any, queue_url: str) -> int:
    """Messages in the SQS queue, received or not."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def run_latest_interval(airflow: AirflowServer, dag: Any, now: datetime) -> tuple[str, str]:
    """Trigger the run of the DAG's latest interval complete at ``now``, or clear that run if it
    exists; return the run's id and what was done."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    interval = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(run_after=now)
    start, end = interval.start.isoformat(), interval.end.isoformat()
    body = {"logical_date": start, "data_interval_start": start, "data_interval_end": end}
    try:
        run = airflow.api("POST", f"/dags/{dag.dag_id}/dagRuns", json=body)
        return run["dag_run_id"], f"triggered the interval [{start}, {end}): {run['dag_run_id']}"
    except RuntimeError as exc:
        if "answered 409" not in str(exc):
            raise
    (run,) = airflow.api(
        "GET", f"/dags/{dag.dag_id}/dagRuns", params={"logical_date_gte": start, "logical_date_lte": start}
    )["dag_runs"]
    airflow.api(
        "POST",
        f"/dags/{dag.dag_id}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run["dag_run_id"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    return run["dag_run_id"], f"the interval [{start}, {end}) ran before: cleared {run['dag_run_id']}"


def wait_for_runs(
    airflow: AirflowServer,
    dags: dict[str, Any],
    run_ids: dict[str, list[str]],
    started: datetime,
    timeout: float,
) -> dict[str, list[dict[str, Any]]]:
    """Wait until every run of the demo has finished (or ``timeout``); return them by DAG."""
    deadline = time.monotonic() + timeout
    runs: dict[str, list[dict[str, Any]]] = {}
    done: set[str] = set()
    while len(done) < len(dags) and time.monotonic() < deadline:
        for dag_id, ids in run_ids.items():
            if dag_id in done:
                continue
            if ids:
                runs[dag_id] = [airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}") for run_id in ids]
            else:
                runs[dag_id] = runs_queued_since(airflow, dag_id, started)
            producers_done = all(d in done for d, r in run_ids.items() if r)
            if all(r["state"] in FINISHED for r in runs[dag_id]) and (
                ids or (producers_done and not queued_asset_events(airflow, dag_id))
            ):
                done.add(dag_id)
                after = (datetime.now(UTC) - started).total_seconds()
                for run in runs[dag_id] or [{"dag_run_id": "no run", "state": "-"}]:
                    print(f"  {dag_id}: {run['dag_run_id']} {run['state']} (at {after:.0f}s)", flush=True)
        time.sleep(POLL_SECONDS)
    for dag_id in sorted(set(dags) - done):
        print(f"  {dag_id}: not finished after {timeout:.0f}s", flush=True)
    return runs


def runs_queued_since(airflow: AirflowServer, dag_id: str, since: datetime) -> list[dict[str, Any]]:
    answer = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 50})
    return [
        run
        for run in answer["dag_runs"]
        if run["queued_at"] and datetime.fromisoformat(run["queued_at"]) >= since
    ][::-1]


def queued_asset_events(airflow: AirflowServer, dag_id: str) -> int:
    """Asset events waiting to start a run of ``dag_id``."""
    return airflow.api("GET", f"/dags/{dag_id}/assets/queuedEvents")["total_entries"]


# -- the verdict ----------------------------------------------------------------------------------------
def judge(stack: Stack, runs: dict[str, list[dict[str, Any]]], started: datetime) -> Outcome:
    """Check that the demo's ``runs`` succeeded and that what they write is there (see the module doc)."""
    config = stack.config
    outcome = Outcome(started=started, runs=runs)
    green: dict[str, list[dict[str, Any]]] = {}
    for dag_id, dag_runs in sorted(runs.items()):
        if not dag_runs:
            outcome.missing.append(f"{dag_id}: no run")
        for run in dag_runs:
            if run["state"] == "success":
                green.setdefault(dag_id, []).append(run)
            else:
                failed = failed_tasks(stack.airflow, dag_id, run["dag_run_id"])
                outcome.missing.append(
                    f"{dag_id}: run {run['dag_run_id']} {run['state']}"
                    + (f" (failed: {', '.join(failed)})" if failed else "")
                )
    for run in green.get(STRAVA_DAG, []):
        check_strava_run(stack, run, outcome)
    for inv in config.inventories:
        for run in green.get(inv.dag_id, []):
            check_inventory_run(stack, inv, run, outcome)
    for run in green.get(SUMMARIES_DAG, []):
        check_report(stack, run, outcome)
    if not (outcome.missing or outcome.objects or outcome.rows):
        outcome.missing.append("anything at all: no run wrote an object or a row")
    return outcome


def check_strava_run(stack: Stack, run: dict[str, Any], outcome: Outcome) -> None:
    """The run's own day: its partition and as many rows as the extraction listed; and every day the run
    rewrote: its object (a day with none left has none) and the raw listing it came from."""
    from datalake.strava import layout

    config = stack.config
    extracted = xcom(stack.airflow, STRAVA_DAG, run["dag_run_id"], "extract_activities")
    if not any(extracted["rows_by_day"].values()):
        # the stand-in's history has activities on most days: a window of none is a run that did nothing
        outcome.missing.append(f"{STRAVA_DAG}: the extraction listed no activity in its whole window")
    for day in extracted["days"]:
        if extracted["rows_by_day"][day]:
            check_object(
                stack, config.lake.bucket, layout.curated_key(date.fromisoformat(day)), outcome, STRAVA_DAG
            )
    if extracted["raw_key"]:
        check_object(stack, config.lake.bucket, extracted["raw_key"], outcome, STRAVA_DAG)
    dt = extracted["last_day"]
    table = f"{config.strava.database}.{config.strava.table}"
    if not check_partition(stack, config.strava.database, config.strava.table, dt, outcome, STRAVA_DAG):
        return
    fetched = extracted["rows_by_day"][dt]
    rows = count_rows(stack, table, dt, outcome, STRAVA_DAG)
    if rows is not None and rows != fetched:
        outcome.missing.append(
            f"{STRAVA_DAG}: Athena counts {rows} rows in {table} dt={dt}, the extraction listed {fetched}"
        )


def check_inventory_run(stack: Stack, inv: Any, run: dict[str, Any], outcome: Outcome) -> None:
    """Each drop's partition (unless projected) and its rows, more than none.

    The drops are those the run validated: its ``register_partition`` is skipped, with no result, when
    the watcher's run registered the same drop first (that run then owns it)."""
    table = f"{inv.database}.{inv.table}"
    for drop in xcom(stack.airflow, inv.dag_id, run["dag_run_id"], "validate_drop"):
        dt = drop["dt"]
        if not inv.partition_projection and not check_partition(
            stack, inv.database, inv.table, dt, outcome, inv.dag_id
        ):
            continue
        if count_rows(stack, table, dt, outcome, inv.dag_id) == 0:
            outcome.missing.append(f"{inv.dag_id}: no rows in {table} dt={dt} (counted by Athena)")


def check_report(stack: Stack, run: dict[str, Any], outcome: Outcome) -> None:
    """The report of the run's day, written during the demo."""
    from datalake.reports.store import ReportStore

    day = xcom(stack.airflow, SUMMARIES_DAG, run["dag_run_id"], "publish_report")
    check_object(
        stack, stack.config.reports.bucket, ReportStore(stack.config).key(day), outcome, SUMMARIES_DAG
    )


def check_object(stack: Stack, bucket: str, key: str, outcome: Outcome, dag_id: str) -> None:
    url, s3 = f"s3://{bucket}/{key}", stack.aws_client("s3")
    try:
        written = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    except s3.exceptions.ClientError:
        outcome.missing.append(f"{dag_id}: no object {url}")
        return
    if written < outcome.started:
        outcome.missing.append(f"{dag_id}: {url} is from {written.isoformat()}, before the demo")
    elif url not in outcome.objects:
        outcome.objects.append(url)


def check_partition(stack: Stack, database: str, table: str, dt: str, outcome: Outcome, dag_id: str) -> bool:
    glue = stack.aws_client("glue")
    try:
        glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=[dt])
    except glue.exceptions.EntityNotFoundException:
        outcome.missing.append(f"{dag_id}: no Glue partition dt={dt} of {database}.{table}")
        return False
    return True


def count_rows(stack: Stack, table: str, dt: str, outcome: Outcome, dag_id: str) -> int | None:
    """``SELECT count(*)`` of one partition through the stack's Athena, which really runs it."""
    athena = stack.aws_client("athena")
    query_id = athena.start_query_execution(
        QueryString=f"SELECT count(*) FROM {table} WHERE dt = '{dt}'",  # noqa: S608 - names from our Glue
        ResultConfiguration={"OutputLocation": stack.config.athena.output_location(DEMO_QUERIES)},
        WorkGroup=stack.config.athena.workgroup,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ATHENA_DONE or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason", status["State"])
        outcome.missing.append(f"{dag_id}: Athena could not count {table} dt={dt}: {reason}")
        return None
    rows = int(
        athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"]
    )
    outcome.rows[f"{table} dt={dt}"] = rows
    return rows


def xcom(airflow: AirflowServer, dag_id: str, run_id: str, task_id: str) -> Any:
    """What a task of the run returned."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return airflow.api("GET", path)["value"]


def failed_tasks(airflow: AirflowServer, dag_id: str, run_id: str) -> list[str]:
    answer = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"state": "failed"})
    return sorted(ti["task_id"] for ti in answer["task_instances"])


# -- what the demo prints -------------------------------------------------------------------------------
def print_summary(stack: Stack, outcome: Outcome) -> None:
    config = stack.config
    s3, sqs = stack.aws_client("s3"), stack.aws_client("sqs")
    print("\nWhat happened:")
    for dag_id, runs in sorted(outcome.runs.items()):
        for run in runs:
            if run.get("data_interval_start"):
                how = f"interval [{run['data_interval_start']}, {run['data_interval_end']})"
            else:
                how = f"({run.get('run_type', 'manual').replace('_', '-')} run)"
            print(f"  {dag_id:28s} {run['state']:8s} {how}")
    own_results = config.athena.output_location(DEMO_QUERIES)  # the verdict's counts: not the DAGs' doing
    for bucket in sorted({config.lake.bucket, config.athena.results_bucket, config.reports.bucket}):
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
            if not f"s3://{bucket}/{o['Key']}".startswith(own_results)
        ]
        top = sorted({"/".join(k.split("/")[:3]) for k in keys})[:6]
        print(f"  s3://{bucket}: {len(keys)} objects ({', '.join(top)}{' ...' if len(top) == 6 else ''})")
    for partition, rows in outcome.rows.items():
        print(f"  Athena table {partition}: {rows} rows (counted by Athena)")
    with contextlib.suppress(Exception):
        url = sqs.get_queue_url(QueueName=ALERT_QUEUE)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        print(
            f"  alerts on the SNS topic (read back from SQS {ALERT_QUEUE}): "
            f"{attrs['Attributes']['ApproximateNumberOfMessages']}"
        )
    for url in outcome.objects:
        if url.endswith(".html"):
            print(f"  report {url}")
            for line in inventory_insights(stack, url):
                print(f"    {line}")
    elapsed = (datetime.now(UTC) - outcome.started).total_seconds()
    print(f"  the demo took {elapsed:.0f}s")
    if outcome.ok:
        print("\nThe demo passed: every run succeeded and what it writes is there.")
    else:
        print("\nThe demo FAILED; missing:")
        for line in outcome.missing:
            print(f"  - {line}")


def inventory_insights(stack: Stack, report_url: str) -> list[str]:
    """What a report says of each inventory: its monthly cost, its best saving, its anomalies."""
    import json

    from datalake.reports.render import dollars

    bucket, _, key = report_url.removeprefix("s3://").partition("/")
    body = stack.aws_client("s3").get_object(Bucket=bucket, Key=key.replace("report.html", "summary.json"))
    document = json.loads(body["Body"].read())
    lines = []
    for source, entry in sorted(document["sources"].items()):
        insights = entry.get("insights")
        if not insights:
            continue
        best = max((o["saving_usd"] or 0.0 for c in insights["savings"] for o in c["options"]), default=0.0)
        previous = (insights.get("previous") or {}).get("day") or "no earlier day"
        alerted = "alerted" if source in (document.get("alerts") or {}) else "not alerted yet"
        lines.append(
            f"{source}: {dollars(insights['cost_total'])} a month; savings up to {dollars(best)} a month; "
            f"{len(insights['anomalies'])} anomalies against {previous} ({alerted})"
        )
    return lines


# -- command line ---------------------------------------------------------------------------------------
def main() -> int:
    stack = Stack()
    was_running = stack.running()
    start(stack)
    try:
        print("\nrunning every DAG through the scheduler:", flush=True)
        ok = run_demo(stack).ok
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
