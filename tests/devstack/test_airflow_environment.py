"""The stack's Airflow takes its connections, variables and AWS endpoints from the stack alone."""

from __future__ import annotations

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
