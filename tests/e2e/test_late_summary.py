"""A ``daily_summaries`` run not finished by its deadline alerts once, through Airflow's own machinery: the
DAG's ``DeadlineAlert`` is recorded when the run is queued, the scheduler notices the deadline pass, and
the triggerer runs the project's callback, which publishes to the alert topic.

The stack of these tests gives a run ``LATE_AFTER_MINUTES`` (see ``conftest.py``). The late run: one
triggered while the DAG is paused, so it stays queued past its deadline, as a run held up behind a full
pool or a stuck scheduler would.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import pytest

from tests.e2e.runs import LATE_AFTER_MINUTES, alert_queue, wait_for

pytestmark = pytest.mark.e2e

DAG_ID = "daily_summaries"
# seconds: several scheduler loops, each of which handles the passed deadlines it has not handled yet
SECOND_ALERT_WITHIN = 5


def test_a_summary_run_still_queued_past_its_deadline_alerts_once(stack):
    airflow = stack.airflow
    airflow.wait_for_dags([DAG_ID])
    was_paused = airflow.api("GET", f"/dags/{DAG_ID}")["is_paused"]
    run_id = f"e2e_late_{uuid.uuid4().hex[:8]}"
    messages: list[dict[str, Any]] = []
    with alert_queue(stack, "e2e-late") as receive:
        try:
            airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": True})
            airflow.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})

            def arrived() -> bool:
                messages.extend(receive())
                return any(f"Run: {run_id}\n" in m["Message"] for m in messages)

            timeout = LATE_AFTER_MINUTES * 60 + 240
            wait_for(arrived, timeout=timeout, every=1, what=f"a late alert for {run_id}")
            time.sleep(SECOND_ALERT_WITHIN)  # a second alert for the same deadline would be here by then
            messages.extend(receive())
            state = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        finally:
            with contextlib.suppress(RuntimeError):
                airflow.api("DELETE", f"/dags/{DAG_ID}/dagRuns/{run_id}")
            airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": was_paused})

    assert state == "queued", "the late run should still be waiting: the deadline alerts, it does not fail"
    ours = [m for m in messages if f"Run: {run_id}\n" in m["Message"]]
    assert len(ours) == 1, ours
    assert ours[0]["Subject"] == f"[datalake] {DAG_ID} is late"
    text = ours[0]["Message"]
    assert text.startswith(f"DAG: {DAG_ID}\nTask: (the run itself)\nRun: {run_id}\n"), text
    assert "Error: the run is late: not finished by its deadline " in text
    assert f"Log: {airflow.api_url}/dags/{DAG_ID}/runs/{run_id}" in text
