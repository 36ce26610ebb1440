"""One embedded stack (local AWS, Strava stand-in, airflow standalone) shared by the end-to-end tests.

It lives in a temporary folder, on ports chosen at run time, and is stopped (every process group) when
the session ends, whether the tests passed or not. It runs the project's configuration with one change:
a ``daily_summaries`` run is late after ``LATE_AFTER_MINUTES`` (180 in ``include/datalake.yaml``), so a
test can see a real ``DeadlineAlert`` fire.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datalake.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, load_config
from devstack.processes import group_alive
from devstack.stack import Stack
from tests.e2e.runs import LATE_AFTER_MINUTES


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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory: Path = tmp_path_factory.mktemp("stack")
    config_path = e2e_config(directory)
    env_keep = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AIRFLOW__")}
    env_keep.update({k: os.environ.pop(k) for k in ("AIRFLOW_HOME", CONFIG_ENV_VAR) if k in os.environ})
    os.environ[CONFIG_ENV_VAR] = str(config_path)
    running = Stack(directory, config=load_config(config_path))
    try:
        running.up()
    finally:
        del os.environ[CONFIG_ENV_VAR]
        os.environ.update(env_keep)  # the stack's children got their own Airflow configuration
    try:
        yield running
    finally:
        pgids = running.state.pgids if running.state else []
        running.down()
        assert [p for p in pgids if group_alive(p)] == [], "processes of the stack outlived it"


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
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        report.sections.append(("the stack's Airflow errors", airflow_errors(stack.airflow.log_path)))
    return report
