"""A failure on the embedded stack reaches the alert topic exactly once, through the production path:
the scheduler runs the task, its callback alerts and records it, the dag-processor runs the DAG-level
callback, which finds the record, sends nothing more and removes the record.

The forced failure: a run of the inventory DAG for its first interval, long before any drop of the
stack, whose deadline has passed.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import INVENTORY_DAYS
from tests.e2e.runs import alert_queue, wait_for

pytestmark = pytest.mark.e2e


def test_a_failed_run_on_the_stack_sends_one_alert_and_leaves_no_record(stack):
    from datalake.alerts import record_key

    config = stack.config
    dag_id = config.inventories[0].dag_id
    airflow = stack.airflow
    with alert_queue(stack, "e2e-alerts") as receive:
        airflow.wait_for_dags([dag_id])
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        # the DAG's first interval, which starts on its start date (a manual run's interval ends at its
        # logical date; earlier intervals fail at once, see test_start_dates.py), long before the
        # stack's drops (the last few days), its deadline long past
        first = datetime.fromisoformat(config.inventories[0].start_date).replace(tzinfo=UTC)
        day = first + timedelta(days=1)
        assert day < datetime.now(UTC) - timedelta(days=INVENTORY_DAYS + 3)
        run = airflow.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            json={"dag_run_id": f"e2e_alert_{uuid.uuid4().hex[:8]}", "logical_date": day.isoformat()},
        )
        run_id = run["dag_run_id"]
        state = wait_for(
            lambda: (
                (s := airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])
                in ("success", "failed")
                and s
            ),
            timeout=300,
            what=f"run {run_id} finished",
        )
        assert state == "failed"
        key = record_key(dag_id, run_id, "wait_for_drop")
        # the DAG-level callback ran in the dag-processor once it has removed the task's record
        wait_for(lambda: not _variable_exists(airflow, key), timeout=180, what=f"record {key} removed")

        # the callback removes the record once it has decided (and sent nothing): all is on the queue
        messages = receive()

    ours = [m for m in messages if f"Run: {run_id}\n" in m["Message"]]
    assert len(ours) == 1, messages
    text = ours[0]["Message"]
    assert f"DAG: {dag_id}\nTask: wait_for_drop\n" in text
    assert "Try: 1\n" in text
    assert re.search(r"Error: AirflowSensorTimeout: no complete drop .* by the deadline", text)
    assert f"Log: {airflow.api_url}/dags/{dag_id}/runs/" in text


def _variable_exists(airflow, key: str) -> bool:
    try:
        airflow.api("GET", f"/variables/{key}")
    except RuntimeError as exc:
        if " 404:" in str(exc):
            return False
        raise
    return True
