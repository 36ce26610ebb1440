"""The stack's Airflow takes its connections, variables and AWS endpoints from the stack alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.airflow import airflow_environment
from devstack.credentials import client_environment
from tests.environment import environment


def test_connections_variables_and_aws_endpoints_of_the_callers_environment_do_not_reach_the_stack(
    tmp_path: Path,
):
    elsewhere = "http://127.0.0.1:9/"  # a test session's local AWS, or a shell's real account
    with environment(
        AIRFLOW_CONN_AWS_DEFAULT=f'{{"conn_type": "aws", "extra": {{"endpoint_url": "{elsewhere}"}}}}',
        AIRFLOW_VAR_SOMETHING="1",
        AWS_ENDPOINT_URL=elsewhere,
        AWS_PROFILE="production",
    ):
        env = airflow_environment(tmp_path, 8080, client_environment("http://127.0.0.1:5000"))

    assert not [k for k in env if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
    assert "AWS_PROFILE" not in env
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"  # the stack's own, given to it
    assert env["AIRFLOW_HOME"] == str(tmp_path)


def test_the_stacks_airflow_imports_the_projects_local_settings_its_sqlite_listeners_and_session_factory(
    tmp_path: Path,
):
    env = airflow_environment(tmp_path, 8080, client_environment("http://127.0.0.1:5000"))
    probe = (
        "import atexit, gc\n"
        # registered before the local settings' handler, so it runs after it, the last of all
        "atexit.register(lambda: print(gc.get_freeze_count() > 0))\n"
        "import sys, airflow_local_settings\n"
        "from sqlalchemy import event\n"
        "from sqlalchemy.engine import Engine\n"
        "from devstack.sqlite_event_loop import _busy_timeout_for_this_thread\n"
        "from devstack.sqlite_savepoints import _begin_before_savepoint\n"
        "from datalake.parsing import PRE_IMPORTS\n"
        "print(airflow_local_settings.pre_import.__module__)\n"
        "print(airflow_local_settings.warm_up.__module__)\n"
        "print(event.contains(Engine, 'savepoint', _begin_before_savepoint))\n"
        "print(event.contains(Engine, 'before_cursor_execute', _busy_timeout_for_this_thread))\n"
        "print(all(m in sys.modules for m in PRE_IMPORTS))\n"
        "from airflow.providers.amazon.aws.hooks import base_aws\n"
        "print(base_aws.SessionFactory.__module__)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    # the last lines: Airflow may log to stdout while it imports
    assert found.stdout.split()[-7:] == [
        "datalake.parsing",
        "datalake.task_warmup",
        "True",
        "True",
        "True",
        "datalake.aws_sessions",
        "True",  # at exit, the process's objects were frozen (datalake.process_exit)
    ]
