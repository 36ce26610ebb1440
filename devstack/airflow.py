"""A real Airflow for the embedded stack: ``airflow standalone`` on SQLite, in its own process group.

The api-server, scheduler, dag-processor and triggerer all run from one ``airflow standalone`` process
(each under :mod:`devstack.restarting`, which starts a crashed one again) with their own
``AIRFLOW_HOME``, on a free port of 127.0.0.1, with parallelism sized for a small machine.
The simple auth manager generates the admin password into ``$AIRFLOW_HOME``; :class:`AirflowServer`
reads it from there and talks to the public REST API with a JWT.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import requests

from datalake.aws_sessions import SESSION_FACTORY
from devstack.processes import free_port, spawn, stop_group
from devstack.restarting import shim_source

ROOT = Path(__file__).resolve().parents[1]
LOCAL_SETTINGS = ROOT / "devstack" / "airflow_settings"  # its airflow_local_settings.py
HTTP_TIMEOUT = 30
USERNAME = "admin"
SQLITE_BUSY_TIMEOUT = 60  # seconds a writer waits for the metadata DB's lock


def metadata_db_url(home: Path) -> str:
    """The SQLite metadata DB in ``home``, with the lock wait every Airflow process of the stack uses."""
    return f"sqlite:///{home}/airflow.db?timeout={SQLITE_BUSY_TIMEOUT}"


INHERITED_NOT = ("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AWS_")


def airflow_environment(home: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The configuration of the local Airflow, as environment variables (nothing machine-specific)."""
    import os

    base = f"http://127.0.0.1:{port}"
    # Connections, variables and AWS endpoints come from the stack alone: an inherited
    # AIRFLOW_CONN_AWS_DEFAULT (a shell's, or a test session's local AWS) would win over the stack's
    # own connection and send every task to another endpoint.
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_NOT)}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # the stack's tasks mostly wait on the local AWS: with 4 slots a summaries run's queries
            # queued in fours while a core stood idle
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            # SQLite lets one writer in at a time; the others wait for the lock up to `timeout`
            # seconds, then fail with "database is locked". Python's default of 5 s turns a slow
            # moment of a loaded machine into a failed write in the scheduler or the api-server.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db_url(home),
            # a task's calls to the execution API wait as long as a write may wait for that lock (the
            # default, 5 s, failed wait_for_drop with ReadTimeout while a loaded machine held it)
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": str(SQLITE_BUSY_TIMEOUT + 30),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            # a database error's answer names its cause (e.g. "database is locked"), not only an id
            # to look up in the log; the statements carry placeholders, never values
            "AIRFLOW__API__EXPOSE_STACKTRACE": "True",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # an idle scheduler loop sleeps this long: the gap between a task's end and its downstream's
            # start (at the default, 1 s, a step of a DAG run took about 0.8 s to follow the one before)
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            # a scheduler started again (devstack.restarting) resets the dead one's queued tasks
            # within a minute, not five
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            "AIRFLOW__TRIGGERER__CAPACITY": "50",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # the provider's hooks share one botocore loader per process, as in the production image
            "AIRFLOW__AWS__SESSION_FACTORY": SESSION_FACTORY,
            # the scheduler's and triggerer's log servers: free ports, so two stacks can run side by side
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            # standalone starts its components as `airflow ...`: the stack's restarting command
            # (devstack.restarting) comes first, then this venv's airflow
            "PATH": os.pathsep.join(
                [str(home / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]
            ),
            # the stack's Airflow local settings, what every Airflow process imports at start: the
            # project's (config/airflow_local_settings.py: the dag-processor forks its parsers warm)
            # and savepoints that nest on SQLite (devstack.sqlite_savepoints)
            "PYTHONPATH": os.pathsep.join(p for p in (str(LOCAL_SETTINGS), env.get("PYTHONPATH")) if p),
        }
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(extra or {})
    return env


def _reason(answer: requests.Response) -> str:
    """The point of an error answer: a database error's reason and cause, else the start of the body."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        detail = answer.json()["detail"]
        if isinstance(detail, dict) and "orig_error" in detail:
            return f"{detail['reason']}: {detail['orig_error']}"[:500]
    return answer.text[:500]


class AirflowServer:
    """One ``airflow standalone`` in its own process group; a small client of its REST API."""

    def __init__(self, home: Path, *, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.extra_env = env or {}
        self.pgid: int | None = None
        self._token: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "standalone.log"

    def environment(self) -> dict[str, str]:
        return airflow_environment(self.home, self.port, self.extra_env)

    def start(self, timeout: float = 240) -> AirflowServer:
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = str(Path(sys.executable).with_name("airflow"))
        shim = self.home / "bin" / "airflow"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(shim_source(Path(airflow), ROOT))
        shim.chmod(0o755)
        proc = spawn([airflow, "standalone"], log_path=self.log_path, env=self.environment())
        self.pgid = proc.pid
        self._proc = proc
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            proc = getattr(self, "_proc", None)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {proc.returncode}; see {self.log_path}")
            try:
                health = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
                states = {
                    name: (health.get(name) or {}).get("status")
                    for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")
                }
                if all(state == "healthy" for state in states.values()) and self.password_file.exists():
                    return
                last = json.dumps(states)
            except (requests.RequestException, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(1)
        raise TimeoutError(
            f"Airflow at {self.api_url} not healthy after {timeout:.0f}s ({last}); see {self.log_path}"
        )

    def stop(self) -> None:
        if self.pgid is not None:
            stop_group(self.pgid, grace=30)
            self.pgid = None

    def __enter__(self) -> AirflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST API -------------------------------------------------------------------------------------
    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    @property
    def username(self) -> str:
        return USERNAME

    @property
    def password(self) -> str:
        return json.loads(self.password_file.read_text())[USERNAME]

    def token(self) -> str:
        if self._token is None:
            answer = requests.post(
                f"{self.api_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=HTTP_TIMEOUT,
            )
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return self._token

    def api(
        self, method: str, path: str, *, attempts: int = 4, busy_timeout: float = 120, **kwargs: Any
    ) -> Any:
        """Call ``/api/v2<path>`` with the admin's token; raise with the server's answer on an error.

        A busy api-server on SQLite can be slow to answer: timeouts and refused connections are retried
        a few times (every call the stack makes is safe to repeat), and an answer that the database
        was locked or failed (a 5xx; the request's transaction was rolled back) is retried for up to
        ``busy_timeout`` seconds.
        """
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                return self._api(method, path, attempts=attempts, **kwargs)
            except RuntimeError as exc:
                text = str(exc).lower()
                locked = "answered 5" in text and ("locked" in text or "database error" in text)
                if not (locked and time.monotonic() < deadline):
                    raise
            time.sleep(3)

    def _api(self, method: str, path: str, *, attempts: int, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                answer = requests.request(
                    method,
                    f"{self.api_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self.token()}"},
                    timeout=HTTP_TIMEOUT,
                    **kwargs,
                )
                break
            except (requests.Timeout, requests.ConnectionError):
                if attempt == attempts:
                    raise
                time.sleep(2 * attempt)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {_reason(answer)}")
        return answer.json() if answer.content else None

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id`` and ask for its file to be parsed now: the watchers of the queues it is
        scheduled on start with the first parse after the unpause."""
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        self.parse_soon(dag_id)

    def parse_soon(self, dag_id: str) -> None:
        """Ask the dag-processor to parse ``dag_id``'s file ahead of its next periodic parse
        (``min_file_process_interval``, 30 s here)."""
        token = self.api("GET", f"/dags/{dag_id}/details")["file_token"]
        try:
            self.api("PUT", f"/parseDagFile/{token}")
        except RuntimeError as exc:
            if "answered 409" not in str(exc):  # 409: a parse of that file is asked for already
                raise

    def put_connection(self, conn_id: str, **fields: Any) -> None:
        """Create or replace a connection in the metadata DB (fields as the REST API names them)."""
        body = {"connection_id": conn_id, **fields}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        with contextlib.suppress(RuntimeError):  # it did not exist
            self.api("DELETE", f"/connections/{conn_id}")
        self.api("POST", "/connections", json=body)

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            missing = set(dag_ids) - known
            if not missing:
                return
            time.sleep(2)
        errors = self.api("GET", "/importErrors")
        raise TimeoutError(f"DAGs {sorted(missing)} not parsed after {timeout:.0f}s; import errors: {errors}")
