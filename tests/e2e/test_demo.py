"""The demo's promise, as tests: ``make demo`` run again in one clone passes again, with data, because a
stack started again starts empty; and the demo judges itself by what its own runs wrote.

The session's stack (``conftest.py``) has done up, work, down, up in one directory, then the demo, before
these tests run; they read what happened.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from devstack.demo import project_dag_ids

pytestmark = pytest.mark.e2e


def test_the_demo_passes_on_a_stack_started_again_in_its_directory_with_data(stack_session):
    config, demo = stack_session.stack.config, stack_session.demo
    dag_ids = set(project_dag_ids())
    assert demo.missing == []
    states = {dag_id: {r["state"] for r in runs} for dag_id, runs in demo.runs.items()}
    assert states == {dag_id: {"success"} for dag_id in dag_ids}
    for inv in config.inventories:
        table = f"{inv.database}.{inv.table} "
        counts = [rows for partition, rows in demo.rows.items() if partition.startswith(table)]
        assert counts, f"no partition of {inv.dag_id} counted: {demo.rows}"
        assert all(rows > 0 for rows in counts), demo.rows
    strava_table = f"{config.strava.database}.{config.strava.table} "
    assert any(partition.startswith(strava_table) for partition in demo.rows), demo.rows
    assert any(url.endswith("/report.html") for url in demo.objects), demo.objects
    for runs in demo.runs.values():  # its own runs: queued after it started
        assert all(datetime.fromisoformat(r["queued_at"]) >= demo.started for r in runs)


def test_a_stack_started_again_in_the_same_directory_starts_empty(stack_session):
    assert all(stack_session.first_stack_left.values()), stack_session.first_stack_left
    assert stack_session.second_stack_found == {"DAG runs": 0, "lake objects": 0, "report objects": 0}


def test_the_demo_does_not_count_what_was_written_before_it_started(stack_session):
    demo, later = stack_session.demo, stack_session.judged_later
    # the same runs, judged as if the demo had started after them: everything they wrote is older
    assert not later.ok
    for url in demo.objects:
        assert any(line.endswith(" before the demo") and url in line for line in later.missing), url


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
