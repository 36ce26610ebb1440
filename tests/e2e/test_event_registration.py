"""A drop that lands is registered through its queue, minutes later, with no scheduled interval behind it.

On the shared stack: S3 (moto) notifies the inventory's SQS queue of the new ``manifest.checksum``, the
triggerer's watcher receives it, the run it starts registers the partition and publishes the inventory
Asset, and that starts the summaries. The drop is dated on a day whose scheduled run never took it, at
a time of day no other drop of that day has, so only the event path can have registered it. Then a run
of that day's interval (the scheduled path, as a backfill or the safety net runs it) only confirms it.

It measures the delay from the upload of ``manifest.checksum`` to the partition in Glue and to the
summaries run (target: under :data:`TARGET_SECONDS`), and prints the figures.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from datalake.assets import inventory_asset, strava_activities_asset
from datalake.events import queue_arn
from datalake.inventory.layout import complete_drops
from devstack.demo import dag_pending, queue_pending
from devstack.inventory_drops import write_config_drop
from devstack.stack import INVENTORY_DAYS, Stack
from tests.e2e.runs import asset_events, ensure_every_dag_ran_green, wait_for

pytestmark = pytest.mark.e2e

SUMMARIES = "daily_summaries"
TARGET_SECONDS = 120


def _asset(stack: Stack, name: str) -> dict[str, Any]:
    assets = stack.airflow.api("GET", "/assets", params={"name_pattern": name, "limit": 10})["assets"]
    return next(a for a in assets if a["name"] == name)


def _settled(stack: Stack, inv: Any) -> bool:
    """The watcher is registered, the queue is drained and neither DAG has a run in flight or waiting."""
    if not _asset(stack, queue_arn(inv.events_queue_url))["watchers"]:
        return False
    if queue_pending(stack.aws_client("sqs"), inv.events_queue_url):
        return False
    return not (dag_pending(stack.airflow, inv.dag_id) or dag_pending(stack.airflow, SUMMARIES))


def _summaries_window(stack: Stack) -> list[dict[str, Any]]:
    """The asset events the next asset-triggered summaries run would take along: Airflow gives it every
    event on its assets since its previous asset-triggered run, also those that came while it was paused
    (which queued no run), and the run reports the newest day among them."""
    previous = stack.airflow.api(
        "GET",
        f"/dags/{SUMMARIES}/dagRuns",
        params={"run_type": "asset_triggered", "order_by": "-run_after", "limit": 1},
    )["dag_runs"]
    since = {"timestamp_gt": previous[0]["run_after"]} if previous else {}
    config = stack.config
    names = [strava_activities_asset(config).name, *(inventory_asset(i).name for i in config.inventories)]
    return [
        event
        for name in names
        for event in asset_events(stack, asset_id=_asset(stack, name)["id"], limit=100, **since)
    ]


def _start_draining_run(stack: Stack, inv: Any) -> bool:
    """Start a summaries run that takes whatever events wait in its window (an event of the
    inventory's asset, posted through the REST API, starts it), so that the run the test's drop starts
    takes that drop alone, whichever tests ran on the stack before. False if the window is empty."""
    if not _summaries_window(stack):
        return False
    asset_id = _asset(stack, inventory_asset(inv).name)["id"]
    stack.airflow.api("POST", "/assets/events", json={"asset_id": asset_id, "extra": {}})
    return True


def _settle(stack: Stack, inv: Any) -> None:
    """Wait until :func:`_settled`, twice, 5 s apart: a run that just ended may still be followed by a
    queued one."""
    wait_for(lambda: _settled(stack, inv), timeout=600, every=1, what="watcher active, queue drained")
    time.sleep(5)
    wait_for(lambda: _settled(stack, inv), timeout=600, every=1, what="nothing queued or running")


def _reparsed(stack: Stack, dag_id: str) -> None:
    """Have the dag-processor parse ``dag_id``'s file now, and wait until it has. A parse recomputes
    whether the DAG is at its ``max_active_runs``, which the scheduler leaves stale when a run that
    ``TriggerDagRunOperator`` started ends (apache/airflow#73032): after the draining run's refresh run,
    the drop's summaries run would wait for the next parse (up to ``min_file_process_interval``, 30 s)."""

    def last_parsed() -> str:
        return stack.airflow.api("GET", f"/dags/{dag_id}")["last_parsed_time"]

    before = last_parsed()
    stack.airflow.parse_soon(dag_id)
    wait_for(lambda: last_parsed() != before, timeout=120, every=0.5, what=f"{dag_id} parsed again")


def _unclaimed_drop(stack: Stack, inv: Any) -> tuple[date, str]:
    """A day no scheduled run of the stack's own took (before the drops the stack writes, after the day
    the failure test keeps empty), and a time of day no drop of that day has."""
    day = datetime.now(UTC).date() - timedelta(days=INVENTORY_DAYS + 2)
    assert day > date.fromisoformat(inv.start_date)
    taken = {
        d.folder[11:16]
        for d in complete_drops(stack.aws_client("s3"), inv.destination_bucket, inv.base_prefix, day)
    }
    return day, next(hm for hm in (f"12-{m:02d}" for m in range(34, 60)) if hm not in taken)


def _partition_exists(stack: Stack, inv: Any, dt: str) -> bool:
    glue = stack.aws_client("glue")
    try:
        glue.get_partition(DatabaseName=inv.database, TableName=inv.table, PartitionValues=[dt])
    except glue.exceptions.EntityNotFoundException:
        return False
    return True


def _published(stack: Stack, inv: Any, dt: str) -> list[dict[str, Any]]:
    """The inventory Asset's events that carry ``dt``."""
    asset_id = _asset(stack, inventory_asset(inv).name)["id"]
    events = asset_events(stack, asset_id=asset_id, limit=100, order_by="-timestamp")
    return [e for e in events if (e.get("extra") or {}).get("dt") == dt]


def _summaries_runs(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The summaries runs an inventory Asset event took part in."""
    return [run for run in event["created_dagruns"] if run["dag_id"] == SUMMARIES]


def _task_states(stack: Stack, dag_id: str, run_id: str) -> dict[str, str]:
    tis = stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti["state"] for ti in tis}


def _finished(stack: Stack, dag_id: str, run_id: str) -> str | None:
    state = stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None


def test_a_drop_is_registered_and_summarised_through_its_queue_and_its_interval_only_confirms_it(stack):
    config = stack.config
    inv = next(i for i in config.inventories if i.events_queue_url)
    airflow = stack.airflow
    ensure_every_dag_ran_green(stack)  # the summaries read every source's table: they must exist
    paused = {d: airflow.api("GET", f"/dags/{d}")["is_paused"] for d in (inv.dag_id, SUMMARIES)}
    try:
        for dag_id in paused:
            airflow.unpause(dag_id)
        # The watcher comes with the parse the unpause asks for; whatever waited on the queue (the
        # stack's own drops, the s3:TestEvent) is registered and summarised first, while a run of its
        # own takes what waited in the summaries' window. A drop registered late in that time leaves
        # its event in the window: another such run takes it.
        _start_draining_run(stack, inv)
        _settle(stack, inv)
        if _start_draining_run(stack, inv):
            _settle(stack, inv)
        _reparsed(stack, SUMMARIES)

        day, hour_minute = _unclaimed_drop(stack, inv)
        drop = write_config_drop(stack.aws_client("s3"), inv, day, hour_minute=hour_minute, n=200)
        uploaded = time.monotonic()  # manifest.checksum is the drop's last object
        wait_for(lambda: _partition_exists(stack, inv, drop.dt), timeout=600, every=0.5, what="partition")
        to_partition = time.monotonic() - uploaded

        runs = wait_for(
            lambda: [r for e in _published(stack, inv, drop.dt) for r in _summaries_runs(e)],
            timeout=600,
            every=1,
            what="summaries run",
        )
        to_summaries = time.monotonic() - uploaded
        state = wait_for(
            lambda: _finished(stack, SUMMARIES, runs[0]["run_id"]), timeout=600, what="summaries finished"
        )
        to_report = time.monotonic() - uploaded
        print(
            f"\nevent-driven registration of {drop.dt}: manifest.checksum -> partition in Glue "
            f"{to_partition:.1f}s, -> summaries run {to_summaries:.1f}s, -> report {to_report:.1f}s "
            f"(target {TARGET_SECONDS}s)"
        )

        events = _published(stack, inv, drop.dt)
        assert len(events) == 1, events
        source = airflow.api("GET", f"/dags/{inv.dag_id}/dagRuns/{events[0]['source_run_id']}")
        assert source["run_type"] == "asset_triggered"
        assert source["data_interval_start"] is None
        assert _task_states(stack, inv.dag_id, source["dag_run_id"])["register_partition"] == "success"
        assert state == "success"
        assert [r["run_id"] for r in _summaries_runs(events[0])] == [runs[0]["run_id"]]
        s3 = stack.aws_client("s3")
        report = f"{config.reports.prefix}/{day.isoformat()}/report.html"
        assert s3.head_object(Bucket=config.reports.bucket, Key=report)["ContentLength"] > 0
        assert to_summaries < TARGET_SECONDS

        # the scheduled path for that day finds the partition pointing at the same drop: it confirms it
        run = airflow.api(
            "POST",
            f"/dags/{inv.dag_id}/dagRuns",
            json={"dag_run_id": f"confirm_{drop.dt}", "logical_date": f"{day.isoformat()}T00:00:00+00:00"},
        )
        assert (
            wait_for(
                lambda: _finished(stack, inv.dag_id, run["dag_run_id"]), timeout=600, what="confirming run"
            )
            == "success"
        )
        assert _task_states(stack, inv.dag_id, run["dag_run_id"])["register_partition"] == "skipped"
        assert len(_published(stack, inv, drop.dt)) == 1
    finally:
        for dag_id, was in paused.items():
            airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": was})
