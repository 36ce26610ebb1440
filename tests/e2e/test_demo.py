"""The demo's promise, as a test: every DAG of the project runs green through the real scheduler."""

from __future__ import annotations

import pytest

from devstack.demo import project_dag_ids, run_demo

pytestmark = pytest.mark.e2e


def test_every_dag_runs_green_through_the_scheduler_on_the_embedded_stack(stack, capsys):
    assert run_demo(stack, timeout=900).missing == []
    runs = {
        dag_id: stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": "success"})
        for dag_id in project_dag_ids()
    }
    assert {dag_id: r["total_entries"] >= 1 for dag_id, r in runs.items()} == dict.fromkeys(runs, True)


def test_the_stack_writes_its_endpoints_for_users(stack):
    text = stack.endpoints_file.read_text()
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "STRAVA_BASE_URL",
        "AIRFLOW_API_URL",
        "AIRFLOW_USERNAME",
        "AIRFLOW_PASSWORD",
    ):
        assert f"export {name}=" in text
    assert oct(stack.endpoints_file.stat().st_mode & 0o777) == "0o600"
