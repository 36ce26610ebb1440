"""Fixtures of the Strava tests: the Strava stand-in, a real Airflow API server, the local AWS lake.

The API server shares the test process's metadata DB (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` set by
``tests/conftest.py``), so a connection written through its REST API is what the next hook in this
process reads, exactly as the next task of a real deployment would.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.processes import free_port, spawn, stop_group
from devstack.strava_api import StravaStandIn, seed_activities
from tests.environment import deployed_python_path
from tests.strava.api_proxy import ApiProxy

ROOT = Path(__file__).resolve().parents[2]

# Seeded activities start in the 5 days before END (UTC midnight), so daily intervals split them cleanly.
END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 5


@dataclass
class ApiServer:
    api_url: str
    username: str
    password: str
    viewer_password: str  # of the user "viewer", who may read but not edit connections (auth_manager.py)

    def token(self) -> str:
        answer = requests.post(
            f"{self.api_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.api_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )

    def put_connection(self, conn_id: str, **fields: Any) -> None:
        self.call("DELETE", f"/connections/{conn_id}")
        body = {"connection_id": conn_id, **fields}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        answer = self.call("POST", "/connections", json=body)
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="session")
def airflow_api(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port, in its own process group, on the tests' metadata DB (made
    in this process: ``airflow_db``), with two users: "admin", and "viewer", who may read connections but
    not edit them."""
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = str(Path(sys.executable).with_name("airflow"))
    port = free_port()
    env = dict(os.environ)  # the session's Fernet key included (tests/conftest.py)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__AUTH_MANAGER": "tests.strava.auth_manager.ReadOnlyViewerAuthManager",
            "PYTHONPATH": deployed_python_path(ROOT),  # ROOT: the tests' auth manager
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        }
    )
    started = time.monotonic()
    log_path = tmp_path_factory.mktemp("api-server") / "api-server.log"
    proc = spawn(
        [airflow, "api-server", "--port", str(port), "--host", "127.0.0.1"], log_path=log_path, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        password_file = home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 180
        while True:
            try:
                health = requests.get(f"{url}/api/v2/monitor/health", timeout=5).json()
                if health["metadatabase"]["status"] == "healthy" and password_file.exists():
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"airflow api-server did not start; see {log_path}: {log_path.read_text()[-2000:]}"
                )
            time.sleep(1)
        print(f"airflow api-server healthy after {time.monotonic() - started:.0f}s")
        passwords = json.loads(password_file.read_text())
        yield ApiServer(url, "admin", passwords["admin"], passwords["viewer"])
    finally:
        stop_group(proc.pid)


@pytest.fixture
def metastore_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections are read from the metadata DB, as the API server reads them for a worker's task."""
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")


def seeded(n: int = 40, seed: int = 7) -> list[dict[str, Any]]:
    return seed_activities(n, seed=seed, end=END, days=DAYS)


@pytest.fixture
def strava() -> Iterator[StravaStandIn]:
    with StravaStandIn(seeded()) as standin:
        yield standin


def strava_extra(standin: StravaStandIn, **overrides: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"refresh_token": standin.refresh_token}
    extra.update(overrides)
    return extra


def strava_conn_uri_env(conn_id: str, standin: StravaStandIn, **extra: Any) -> tuple[str, str]:
    """An ``AIRFLOW_CONN_*`` variable (JSON form) for a Strava connection to the stand-in."""
    value = json.dumps(
        {
            "conn_type": "strava",
            "host": standin.base_url,
            "login": standin.client_id,
            "password": standin.client_secret,
            "extra": strava_extra(standin, **extra),
        }
    )
    return f"AIRFLOW_CONN_{conn_id.upper()}", value


@pytest.fixture
def lake(local_aws: str) -> tuple[Any, str]:
    """A fresh lake bucket on the local AWS, with a boto3 S3 client; yields (client, bucket)."""
    import uuid

    import boto3

    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """key -> ETag of every object under ``prefix``."""
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj["ETag"]
    return found


def put_strava_connections(
    api: ApiServer,
    standin: StravaStandIn,
    *,
    strava_conn_id: str = "strava_default",
    api_conn_id: str = "airflow_api",
    api_host: str | None = None,
    api_user: str = "admin",
) -> None:
    """The Strava connection in the metadata DB (refresh token only) and the API connection to write it
    (to ``api_host``, the API server by default, as ``api_user``: "admin" or "viewer")."""
    password = api.password if api_user == "admin" else api.viewer_password
    api.put_connection(
        api_conn_id, conn_type="http", host=api_host or api.api_url, login=api_user, password=password
    )
    api.put_connection(
        strava_conn_id,
        conn_type="strava",
        host=standin.base_url,
        login=standin.client_id,
        password=standin.client_secret,
        extra=strava_extra(standin),
    )


@pytest.fixture
def api_proxy(airflow_api: ApiServer) -> Iterator[ApiProxy]:
    """A proxy in front of the API server, for faults on the way to it (see ``api_proxy.py``)."""
    with ApiProxy(airflow_api.api_url) as proxy:
        yield proxy


def token_posts(standin: StravaStandIn) -> int:
    return sum(1 for r in standin.requests if r.path == "/oauth/token")


AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def dag_run_env(local_aws: str, log_folder: Path) -> dict[str, str]:
    """The environment of an ``airflow dags test`` child: this process's, AWS at the local AWS, logs in
    ``log_folder`` (the lake and Athena results buckets must exist: :func:`create_lake_buckets`)."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": local_aws, "region_name": "us-east-1"}}
    )
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(log_folder)
    env["PYTHONPATH"] = deployed_python_path()
    return env


def create_lake_buckets(local_aws: str) -> None:
    import boto3

    from datalake.config import get_config

    config = get_config()
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1")
    for bucket in (config.lake.bucket, config.athena.results_bucket):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # made by an earlier test
            s3.create_bucket(Bucket=bucket)


def texts_under(*paths: Path) -> list[str]:
    """The text of every file under ``paths`` (logs, say)."""
    return [p.read_text(errors="replace") for root in paths for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def versioned_lake(lake: tuple[Any, str]) -> tuple[Any, str]:
    """The lake bucket with versioning on: every write leaves a version, so "wrote nothing" is checkable."""
    s3, bucket = lake
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return lake


def object_versions(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """(key, version id) of every version and delete marker in the bucket: one per write."""
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append((item["Key"], item["VersionId"]))
    return sorted(found)


def athena_rows(sql: str, database: str | None = None) -> list[list[str | None]]:
    """Run ``sql`` on the local Athena (it really runs it) and return the data rows as strings."""
    import boto3

    from datalake.config import get_config

    config = get_config()
    athena = boto3.client("athena", region_name="us-east-1")
    qid = athena.start_query_execution(
        QueryString=sql,
        ResultConfiguration={"OutputLocation": config.athena.output_location("tests", "strava")},
        WorkGroup=config.athena.workgroup,
        **({"QueryExecutionContext": {"Database": database}} if database else {}),
    )["QueryExecutionId"]
    for _ in range(1200):
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.05)
    assert status["State"] == "SUCCEEDED", f"{status.get('StateChangeReason')}\n{sql}"
    if sql.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")):
        return []
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1:]
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows]


@dataclass
class StravaTable:
    """The Strava table over a test's lake bucket, made and filled by the DAG's own SQL files."""

    dag: Any
    params: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.params['database']}.{self.params['table']}"

    def run(self, task_id: str, **context: Any) -> None:
        """Render the query of the DAG's task ``task_id`` as the DAG renders it, and run it."""
        query = self.dag.get_task(task_id).query  # the .sql file's text, read when the DAG was parsed
        athena_rows(self.dag.get_template_env().from_string(query).render(params=self.params, **context))

    def register_window(self, data_interval_end: datetime) -> None:
        """``add_partitions``: every day of the window of the run ending at ``data_interval_end``."""
        self.run("add_partitions", data_interval_end=data_interval_end)

    def create_detail_table(self, table: str, bucket: str, first_day: str) -> None:
        """A detail table in this database over ``bucket``, by the DAG's ``create_detail_table.sql`` with
        the parameters its ``create_table_<table>`` task takes (``strava.start_date`` = ``first_day``)."""
        import dataclasses

        from datalake.config import get_config
        from datalake.strava.tasks import detail_table_params

        config = get_config()
        config = dataclasses.replace(
            config,
            lake=dataclasses.replace(config.lake, bucket=bucket),
            strava=dataclasses.replace(config.strava, database=self.params["database"], start_date=first_day),
        )
        template = self.dag.get_template_env().get_template("strava/create_detail_table.sql")
        athena_rows(template.render(params=detail_table_params(config, table)))


@pytest.fixture
def strava_table(local_aws: str, lake: tuple[Any, str], dagbag: Any) -> StravaTable:
    """A database and table of their own over the ``lake`` bucket (``create_database``, ``create_table``)."""
    import uuid

    from datalake.strava.layout import curated_location

    create_lake_buckets(local_aws)
    _s3, bucket = lake
    params = {
        "database": f"strava_{uuid.uuid4().hex[:10]}",
        "table": "activities",
        "location": curated_location(bucket),
    }
    table = StravaTable(dagbag.dags["strava_activities"], params)
    table.run("create_database")
    table.run("create_table")
    return table
