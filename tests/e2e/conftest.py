"""One embedded stack (local AWS, Strava stand-in, airflow standalone) shared by the end-to-end tests.

It lives in a temporary folder, on ports chosen at run time, and is stopped (every process group) when
the session ends, whether the tests passed or not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import group_alive
from devstack.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory: Path = tmp_path_factory.mktemp("stack")
    env_keep = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AIRFLOW__")}
    env_keep.update({k: os.environ.pop(k) for k in ("AIRFLOW_HOME",) if k in os.environ})
    running = Stack(directory)
    try:
        running.up()
    finally:
        os.environ.update(env_keep)  # the stack's children got their own Airflow configuration
    try:
        yield running
    finally:
        pgids = running.state.pgids if running.state else []
        running.down()
        assert [p for p in pgids if group_alive(p)] == [], "processes of the stack outlived it"
