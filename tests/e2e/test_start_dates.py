"""Runs that cannot do anything never show green: a run for a day before the configured first day
(``strava.start_date``, ``inventories[].start_date``) fails at its first task with a message naming the
key to change, and ``make backfill`` refuses such a range before it creates anything.

On the session's stack, through the REST API and the real scheduler, as a user who triggers a run for
last year would; the runs of both DAGs are triggered together and waited for once.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from devstack import backfill
from devstack.demo import judge
from devstack.stack import Stack
from tests.e2e.runs import wait_for

pytestmark = pytest.mark.e2e

DAYS_BEFORE = 30  # how long before the configured first day the runs are for


def first_days(stack: Stack) -> dict[str, tuple[str, str, str]]:
    """DAG id -> (its first task, the key of its first day, that day) for every DAG with one."""
    config = stack.config
    found = {"strava_activities": ("refresh_token", "strava.start_date", config.strava.start_date)}
    for inv in config.inventories:
        found[inv.dag_id] = ("wait_for_drop", f"inventories[name={inv.name}].start_date", inv.start_date)
    return found


@pytest.fixture(scope="module")
def runs_before_start(stack: Stack) -> dict[str, dict[str, Any]]:
    """One finished run of each DAG with a first day, for a day ``DAYS_BEFORE`` before it, by DAG id."""
    airflow = stack.airflow
    days = first_days(stack)
    airflow.wait_for_dags(list(days))
    run_ids = {}
    for dag_id, (_, _, first) in days.items():
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        day = datetime.fromisoformat(first).replace(tzinfo=UTC) - timedelta(days=DAYS_BEFORE)
        run = airflow.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            json={"dag_run_id": f"e2e_before_start_{uuid.uuid4().hex[:8]}", "logical_date": day.isoformat()},
        )
        run_ids[dag_id] = run["dag_run_id"]

    def finished() -> dict[str, dict[str, Any]] | None:
        runs = {d: airflow.api("GET", f"/dags/{d}/dagRuns/{r}") for d, r in run_ids.items()}
        return runs if all(r["state"] in ("success", "failed") for r in runs.values()) else None

    return wait_for(finished, timeout=300, what=f"runs {sorted(run_ids.values())} finished")


def task_log(stack: Stack, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    return "\n".join(json.dumps(line) for line in stack.airflow.api("GET", path)["content"])


@pytest.mark.parametrize("which", ["strava_activities", "first inventory"])
def test_a_run_for_a_day_before_the_first_day_fails_at_its_first_task_naming_the_key(
    stack, runs_before_start, which
):
    dag_id = which if which == "strava_activities" else stack.config.inventories[0].dag_id
    first_task, key, first = first_days(stack)[dag_id]
    run = runs_before_start[dag_id]
    tis = stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
    states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
    # its last try: a try whose worker was lost (the scheduler resets it) leaves an empty log
    tries = {ti["task_id"]: ti["try_number"] for ti in tis["task_instances"]}

    assert run["state"] == "failed"
    assert states.pop(first_task) == "failed"
    assert states, "the run has no other tasks"  # a run before a DAG's start date would have none
    assert set(states.values()) == {"upstream_failed"}
    log = task_log(stack, dag_id, run["dag_run_id"], first_task, tries[first_task])
    assert re.search(rf"This run is for \d{{4}}-\d{{2}}-\d{{2}}, before {re.escape(key)} = {first} in ", log)
    assert f"set {key} to the first day you want" in log


def test_the_demo_counts_a_run_before_the_first_day_as_a_failure_naming_its_task(stack, runs_before_start):
    run = runs_before_start["strava_activities"]

    verdict = judge(stack, {"strava_activities": [run]}, datetime.now(UTC))

    assert verdict.missing == [f"strava_activities: run {run['dag_run_id']} failed (failed: refresh_token)"]


@pytest.mark.parametrize("which", ["strava_activities", "first inventory"])
def test_make_backfill_refuses_a_range_that_starts_before_the_first_day_and_creates_nothing(stack, which):
    airflow, config = stack.airflow, stack.config
    dag_id = which if which == "strava_activities" else config.inventories[0].dag_id
    _, key, first = first_days(stack)[dag_id]
    day = date.fromisoformat(first)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=3)
    end = start + timedelta(days=6)  # across the first day: part of it could run, none of it is created

    def state() -> dict[str, Any]:
        runs = airflow.api(
            "GET",
            f"/dags/{dag_id}/dagRuns",
            params={"logical_date_gte": backfill.iso(start), "logical_date_lte": backfill.iso(end)},
        )
        return {
            "backfills": airflow.api("GET", "/backfills", params={"dag_id": dag_id})["total_entries"],
            "runs in the range": runs["total_entries"],
            "paused": airflow.api("GET", f"/dags/{dag_id}")["is_paused"],
        }

    before = state()
    refusal = rf"before {re.escape(key)} = {first} in .*Nothing was created"
    with pytest.raises(backfill.RefusedRange, match=refusal):
        backfill.run(airflow, dag_id, start, end, config=config)

    assert state() == before
