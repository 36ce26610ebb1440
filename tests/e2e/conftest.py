"""One embedded stack (local AWS, Strava stand-in, airflow standalone) shared by the end-to-end tests.

It lives in a temporary folder, on ports chosen at run time, and is stopped (every process group) when
the session ends, whether the tests passed or not. It runs the project's configuration with one change:
a ``daily_summaries`` run is late after ``LATE_AFTER_MINUTES`` (180 in ``include/datalake.yaml``), so a
test can see a real ``DeadlineAlert`` fire.

Before any test, the session does what a second ``make demo`` in one clone does: up, work left on the
stack (a DAG run, a lake object, a report object), down, up again in the same directory, then the demo
(``tests/e2e/test_demo.py`` checks that the second stack started empty and that the demo passed on it).
The tests then run on that second stack, on which every DAG has run green once.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from datalake.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, load_config
from devstack.demo import Outcome, judge, run_demo
from devstack.processes import group_alive
from devstack.stack import Stack
from tests.e2e.runs import LATE_AFTER_MINUTES

DEMO_TIMEOUT = 900
UP_TIMEOUT = 300  # each start of the stack, generously
SESSION_SETUP = 2 * UP_TIMEOUT + DEMO_TIMEOUT  # what the first end-to-end test waits for its stack


def e2e_config(directory: Path) -> Path:
    """The project's configuration file, the summaries' deadline shortened to ``LATE_AFTER_MINUTES``."""
    text, n = re.subn(
        r"(?m)^(\s*summary_deadline_minutes:)\s*\d+",
        rf"\g<1> {LATE_AFTER_MINUTES}",
        Path(DEFAULT_CONFIG_PATH).read_text(),
    )
    assert n == 1, f"no summary_deadline_minutes in {DEFAULT_CONFIG_PATH}"
    path = directory / "datalake.yaml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def stack_environment(config_path: Path) -> Iterator[None]:
    """The environment the stack's children start in: the e2e configuration, and none of the tests'
    own Airflow settings (the stack gives its Airflow a configuration of its own)."""
    keep = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AIRFLOW__")}
    keep.update({k: os.environ.pop(k) for k in ("AIRFLOW_HOME", CONFIG_ENV_VAR) if k in os.environ})
    os.environ[CONFIG_ENV_VAR] = str(config_path)
    try:
        yield
    finally:
        del os.environ[CONFIG_ENV_VAR]
        os.environ.update(keep)


def what_is_there(stack: Stack) -> dict[str, int]:
    """What a stack holds of the project's work: DAG runs, lake objects, reports."""
    config, s3 = stack.config, stack.aws_client("s3")
    runs = stack.airflow.api("GET", "/dags/~/dagRuns", params={"limit": 1})["total_entries"]
    reports = s3.list_objects_v2(Bucket=config.reports.bucket, Prefix=config.reports.prefix)
    return {
        "DAG runs": runs,
        "lake objects": s3.list_objects_v2(Bucket=config.lake.bucket).get("KeyCount", 0),
        "report objects": reports.get("KeyCount", 0),
    }


@dataclass
class StackSession:
    """The session's stack, in its second incarnation, and what happened before the tests."""

    stack: Stack
    demo: Outcome  # the demo on the second stack
    # the demo's runs judged again just after it, as if it had started then (before any test changes
    # them: a backfill of their days reprocesses them, their XComs with them)
    judged_later: Outcome
    first_stack_left: dict[str, int]  # what_is_there() on the first stack when it stopped
    second_stack_found: dict[str, int]  # what_is_there() on the second stack before its demo


def leave_work(stack: Stack) -> None:
    """One record of each kind what_is_there() counts, written the way the DAGs write them: a DAG run
    (queued: the DAG stays paused), a lake object, a report object."""
    config, s3 = stack.config, stack.aws_client("s3")
    stack.airflow.wait_for_dags(["daily_summaries"])
    stack.airflow.api("POST", "/dags/daily_summaries/dagRuns", json={"logical_date": None})
    s3.put_object(Bucket=config.lake.bucket, Key="raw/left-by-the-first-stack.json", Body=b"{}")
    s3.put_object(Bucket=config.reports.bucket, Key=f"{config.reports.prefix}/left/report.html", Body=b"")


@pytest.fixture(scope="session")
def stack_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSession]:
    directory: Path = tmp_path_factory.mktemp("stack")
    config_path = e2e_config(directory)
    running = Stack(directory, config=load_config(config_path))
    pgids: list[int] = []
    try:
        with stack_environment(config_path):
            running.up()
        pgids += running.state.pgids if running.state else []
        leave_work(running)
        left = what_is_there(running)
        running.down()
        with stack_environment(config_path):
            running.up()
        pgids += running.state.pgids if running.state else []
        found = what_is_there(running)
        demo = run_demo(running, timeout=DEMO_TIMEOUT)
        later = judge(running, demo.runs, datetime.now(UTC))
        yield StackSession(running, demo, later, left, found)
    finally:
        running.down()
        assert [p for p in pgids if group_alive(p)] == [], "processes of the stack outlived it"


@pytest.fixture(scope="session")
def stack(stack_session: StackSession) -> Stack:
    return stack_session.stack


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The first test that needs the stack waits for the session's set-up too: give it that time on
    top of its own timeout (pytest-timeout counts fixture set-up)."""
    first = next((i for i in items if "stack_session" in getattr(i, "fixturenames", ())), None)
    if first is None:
        return
    marker = first.get_closest_marker("timeout")
    own = float(marker.args[0]) if marker and marker.args else float(config.getini("timeout") or 0)
    first.add_marker(pytest.mark.timeout(own + SESSION_SETUP), append=False)


ERROR_MARKS = ("[error", "[critical", "Traceback", "Error:", "database is locked")


def airflow_errors(log_path: Path, limit: int = 60) -> str:
    """The last error lines of the stack's Airflow (all components), for a failed test's report."""
    if not log_path.exists():
        return f"{log_path} does not exist"
    lines = [
        line[:400]
        for line in log_path.read_text(errors="replace").splitlines()
        if any(mark in line for mark in ERROR_MARKS) and "password" not in line.lower()
    ]
    return "\n".join(lines[-limit:]) or "no error lines"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    """A failed end-to-end test's report ends with what the stack's Airflow logged as errors: the
    stack is gone after the session, and its log is what tells a scheduler crash from a slow run."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    stack = funcargs.get("stack") or getattr(funcargs.get("stack_session"), "stack", None)
    if report.failed and isinstance(stack, Stack):
        report.sections.append(("the stack's Airflow errors", airflow_errors(stack.airflow.log_path)))
    return report
