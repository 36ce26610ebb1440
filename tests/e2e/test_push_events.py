"""A deletion in Strava reaches the table through the push path, minutes later, without the daily run.

On the shared stack: the Strava stand-in deletes an activity the lake holds and pushes the event as
Strava would, through the webhook Lambda's own code, onto the stack's SQS queue
(``strava.events_queue_url``); the triggerer's watcher receives it and starts a run of
``strava_activities`` that looks the activity's day up in the table, lists that day again and rewrites
it. The test measures the delay from the deletion to the table no longer holding the activity (target:
under :data:`TARGET_SECONDS`), and prints the figures.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from datalake.events import queue_arn
from devstack.stack import Stack
from tests.athena import run_sql
from tests.e2e.runs import asset_events, ensure_every_dag_ran_green, wait_for

pytestmark = pytest.mark.e2e

DAG_ID = "strava_activities"
TARGET_SECONDS = 180


def _busy(stack: Stack) -> bool:
    for state in ("queued", "running"):
        runs = stack.airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"state": state, "limit": 1})
        if runs["total_entries"]:
            return True
    return False


def _watched(stack: Stack) -> bool:
    name = queue_arn(stack.config.strava.events_queue_url)
    assets = stack.airflow.api("GET", "/assets", params={"name_pattern": name, "limit": 10})["assets"]
    return any(a["name"] == name and a["watchers"] for a in assets)


def _pushed_runs(stack: Stack) -> list[dict[str, Any]]:
    answer = stack.airflow.api(
        "GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "asset_triggered", "limit": 100}
    )
    return answer["dag_runs"]


def test_a_deletion_pushed_by_strava_leaves_the_table_within_minutes_without_the_daily_run(
    stack: Stack,
) -> None:
    ensure_every_dag_ran_green(stack)
    config = stack.config
    athena = stack.aws_client("athena")
    table = f"{config.strava.database}.{config.strava.table}"
    newest = run_sql(athena, f"SELECT id, dt FROM {table} ORDER BY dt DESC, id LIMIT 1")  # noqa: S608
    assert newest, "the demo's Strava run left no activity in the table"
    activity_id, day = int(newest[0][0]), newest[0][1]
    wait_for(
        lambda: _watched(stack) and not _busy(stack), timeout=300, what="the watcher, and no run in flight"
    )
    runs_before = {run["dag_run_id"] for run in _pushed_runs(stack)}

    started, pushed_at = time.monotonic(), datetime.now(UTC)
    answer = requests.post(
        f"{stack.state.strava_url}/_standin/history", json={"delete": [activity_id], "push": True}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["pushed"] == [200]  # the Lambda's code queued the event

    def gone() -> bool:
        count = f"SELECT count(*) FROM {table} WHERE dt = '{day}' AND id = {activity_id}"  # noqa: S608
        return run_sql(athena, count) == [["0"]]

    wait_for(gone, timeout=TARGET_SECONDS, every=1, what=f"activity {activity_id} gone from {table} dt={day}")
    delay = time.monotonic() - started
    new_runs = [run for run in _pushed_runs(stack) if run["dag_run_id"] not in runs_before]
    assert len(new_runs) == 1, new_runs
    run = wait_for(
        lambda: next(
            (
                r
                for r in _pushed_runs(stack)
                if r["dag_run_id"] == new_runs[0]["dag_run_id"] and r["state"] != "running"
            ),
            None,
        ),
        timeout=120,
        what="the pushed run's end",
    )
    assert run["state"] == "success", run
    events = asset_events(stack, source_dag_id=DAG_ID, source_run_id=run["dag_run_id"])
    assert [e["extra"] for e in events] == [{"days": [day]}]  # the day it rewrote, for the summaries
    queued = datetime.fromisoformat(run["queued_at"]) - pushed_at
    print(
        f"push path: deletion -> run queued in {queued.total_seconds():.1f}s -> table in {delay:.1f}s "
        f"(run {run['dag_run_id']}, {run['start_date']} to {run['end_date']})"
    )
    assert delay < TARGET_SECONDS
