"""Shared fixtures. Airflow is configured before it is first imported, so no test touches ~/airflow."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from datalake.aws_sessions import SESSION_FACTORY  # boto3 only: Airflow is not imported yet
from datalake.process_exit import freeze_at_exit

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="datalake-test-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
freeze_at_exit()  # each test process, holding Airflow, exits as the project's Airflow processes do
os.environ.update(
    {
        # One Fernet key for the session, set before Airflow first reads it: this process caches its
        # Fernet on first use, and the Airflow processes the tests start (api-server, airflow dags test)
        # must encrypt and decrypt connections with the very same key.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AWS_EC2_METADATA_DISABLED": "true",
        # as the production image and the stack configure the provider (datalake.aws_sessions)
        "AIRFLOW__AWS__SESSION_FACTORY": SESSION_FACTORY,
    }
)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[str]:
    """A local AWS endpoint (moto + the Athena that runs SQL) for the whole session; yields its URL.

    While the session runs, the AWS_* variables point boto3 at it and the ``aws_default`` connection
    (``AIRFLOW_CONN_AWS_DEFAULT``) points the package's hooks at it.
    """
    from devstack.aws import LocalAws
    from devstack.credentials import aws_connection, client_environment
    from tests.environment import environment

    with LocalAws() as aws:
        connection = json.dumps(aws_connection(aws.endpoint_url))
        with environment(**client_environment(aws.endpoint_url), AIRFLOW_CONN_AWS_DEFAULT=connection):
            yield aws.endpoint_url


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata DB (SQLite, in the session's AIRFLOW_HOME), created once."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless chromium for the module's tests (``tests/browser.py``), closed whatever happens."""
    from tests.browser import launched

    with launched() as browser:
        yield browser


@pytest.fixture(scope="session")
def dagbag() -> object:
    """Every DAG of ``dags/``, parsed once with the project's configuration (tests/dags.py)."""
    from tests.dags import parse_dags

    return parse_dags()


# Tests that share an expensive session fixture run on one worker when the suite is spread over several
# (pytest-xdist, `--dist loadgroup`): one embedded stack, one Airflow API server, not one per worker. The
# groups go by file, because the controller that hands the tests out sees node ids only (and pytest 9.2
# no longer reads the node ids xdist's own loadgroup rewrites, so `xdist_group` markers group nothing).
SHARED_FIXTURES = {
    "stack_session": ("tests/e2e/",),
    "airflow_api": (
        "tests/strava/test_dag.py",
        "tests/strava/test_token_errors.py",
        "tests/strava/test_token_journal.py",
        "tests/strava/test_token_race.py",
        "tests/strava/test_tokens.py",
        "tests/strava/test_writable_stores.py",
    ),
    "server": ("tests/reports/test_web.py",),
}


def shared_group(path: str) -> str | None:
    """The shared fixture whose worker runs the tests of ``path`` (relative to the project), if any."""
    return next((name for name, files in SHARED_FIXTURES.items() if path.startswith(files)), None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The alert tests run last: they serialize the project's DAGs into the session's metadata DB under
    a configuration of their own, whose Asset URIs differ from the default's, and a later
    ``airflow dags test`` of the default configuration would find those assets' names taken. Spread
    over workers, the tests are handed out in this order, so on each worker they still come last.

    A test that uses a shared fixture must be in that fixture's files (else each worker would start
    one of its own): the suite refuses to start otherwise, naming the test and the fixture."""
    items.sort(key=lambda item: "tests/ops/" in item.path.as_posix())
    for item in items:
        path = item.path.relative_to(ROOT).as_posix()
        if shared_group(path) in ("airflow_api", "server"):
            item.add_marker(pytest.mark.api_server)
        if path.startswith("tests/ops/") or path == "tests/inventory/test_dag.py":
            item.add_marker(pytest.mark.dag_runs)
        for name in SHARED_FIXTURES:
            if name in getattr(item, "fixturenames", ()) and shared_group(path) != name:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the shared fixture {name!r}: add {path} to its files in "
                    "SHARED_FIXTURES (tests/conftest.py)"
                )


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: each test is its own unit of work, except the files of one shared fixture,
    which form one unit, handed to one worker."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shared_group(nodeid.split("::", 1)[0]) or nodeid

    return SharedFixtureScheduling(config, log)
