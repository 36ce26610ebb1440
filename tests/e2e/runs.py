"""Helpers of the end-to-end tests: make sure the runs a test needs exist, whatever ran before it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from devstack.demo import project_dag_ids, run_demo
from devstack.stack import Stack
from tests.queues import subscribed

# the stack of the end-to-end tests calls a daily_summaries run late after this long (conftest.py)
LATE_AFTER_MINUTES = 0.25  # 15 s: alerts.summary_deadline_minutes takes fractions


def successful_runs(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    answer = stack.airflow.api(
        "GET", f"/dags/{dag_id}/dagRuns", params={"state": "success", "limit": 100, "order_by": "-run_after"}
    )
    return answer["dag_runs"]


def asset_events(stack: Stack, timeout: float = 120, **params: Any) -> list[dict[str, Any]]:
    """``GET /assets/events`` with ``params``. The endpoint answers 500 while a run that one of the events
    created is still queued (its start_date is NULL: apache/airflow#71360); it is asked again until it
    answers, for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return stack.airflow.api("GET", "/assets/events", params=params)["asset_events"]
        except RuntimeError as exc:
            if "answered 500" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(2)


def ensure_every_dag_ran_green(stack: Stack) -> None:
    """Run the demo (every DAG through the scheduler) unless each project DAG already has a green run
    (the session's own demo gave each one, unless it failed)."""
    dag_ids = sorted(project_dag_ids())
    if all(successful_runs(stack, dag_id) for dag_id in dag_ids):
        return
    run_demo(stack, timeout=900)  # what matters here is a green run of every DAG, not the demo's verdict
    missing = [dag_id for dag_id in dag_ids if not successful_runs(stack, dag_id)]
    assert missing == [], f"no successful run of {missing} after the demo"


def wait_for(predicate: Any, *, timeout: float, every: float = 1.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} not reached after {timeout:.0f}s")


@contextlib.contextmanager
def alert_queue(stack: Stack, name: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A fresh SQS queue subscribed to the alert topic for the block; yields a function that returns the
    SNS envelopes (``Subject``, ``Message``) that arrived since its last call (``tests.queues``)."""
    sns, sqs = stack.aws_client("sns"), stack.aws_client("sqs")
    with subscribed(sns, sqs, stack.config.alerts.sns_topic_arn, name) as receive:
        yield receive
