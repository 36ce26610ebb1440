"""Where a refreshed token is written back: the place the Strava connection really lives.

Task code cannot write connections in Airflow 3, so the pipeline writes through:

- :class:`SecretsManagerStore` when the connection comes from the AWS Secrets Manager secrets backend
  (the secret is updated in place, in its own format: JSON or URI);
- :class:`AirflowApiStore` when it lives in Airflow's metadata DB (the public REST API, with the
  credentials of the ``airflow_api`` connection);
- :class:`UnwritableStore` when it is defined where the pipeline cannot write (an ``AIRFLOW_CONN_*``
  variable, another secrets backend): it refuses *before* any refresh, with what to do.

Every store has ``read()`` (the connection as it holds it now), ``check()`` (called before the refresh,
while the stored refresh token still works: a write that changes nothing, so a store that can be read but
not written fails here, naming the missing permission) and ``save_extra()`` (the new tokens, before they
are used; it raises :class:`StoreWriteError` with the reason, and the caller says what that means). No
token ever reaches a message.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import requests

from datalake.redaction import mask
from datalake.strava.errors import StoreWriteError, TokenPersistenceError, UnexpectedAnswerError
from datalake.strava.http import Deadline, Transient, connection_url, json_body, retrying, send

log = logging.getLogger(__name__)

SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
NOT_ATTEMPTED = "The refresh was not attempted, so the stored refresh token is still valid."


class ConnectionStore(Protocol):
    description: str

    def read(self, conn_id: str) -> Any:
        """The connection as the store holds it now."""

    def check(self, conn: Any, deadline: Deadline) -> None:
        """Raise :class:`TokenPersistenceError` unless ``save_extra`` can write this connection."""

    def save_extra(self, conn: Any, extra: dict[str, Any], *, deadline: Deadline) -> None:
        """Write ``extra`` (the whole new extra) to the connection; raise :class:`StoreWriteError` if not."""


def _airflow_connection(conn_id: str) -> Any:
    from airflow.sdk.bases.hook import BaseHook

    return BaseHook.get_connection(conn_id)


class UnwritableStore:
    """The connection is defined where the pipeline cannot write it: refuse before refreshing."""

    def __init__(self, conn_id: str, where: str, what_to_do: str) -> None:
        self.conn_id = conn_id
        self.description = where
        self.what_to_do = what_to_do

    def read(self, conn_id: str) -> Any:
        return _airflow_connection(conn_id)

    def check(self, conn: Any, deadline: Deadline) -> None:
        log.error("Strava connection %s lives in %s, which the pipeline cannot update", conn.conn_id, self)
        raise TokenPersistenceError(
            f"The Strava access token of connection {conn.conn_id!r} must be refreshed, and Strava may "
            f"rotate the refresh token, but the connection is defined in {self.description}, which this "
            f"pipeline cannot update (a rotated refresh token would be lost). {self.what_to_do} "
            f"{NOT_ATTEMPTED}"
        )

    def save_extra(self, conn: Any, extra: dict[str, Any], *, deadline: Deadline) -> None:
        raise StoreWriteError(f"{self.description} cannot be updated by the pipeline")

    def __str__(self) -> str:
        return self.description


def env_var_store(conn_id: str) -> UnwritableStore:
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    return UnwritableStore(
        conn_id,
        f"the environment variable {var}",
        f"Remove {var} from the environment of the scheduler, workers and dag-processor, and create "
        f"the connection {conn_id!r} in Airflow instead (UI: Admin > Connections, type 'Strava'; or "
        f"`airflow connections add {conn_id} --conn-type strava --conn-login <client id> "
        '--conn-password <client secret> --conn-extra \'{"refresh_token": "..."}\'`), '
        "or keep it in the AWS Secrets Manager secrets backend.",
    )


class _Refused(Exception):
    """The Airflow API refused a call in a way no retry fixes (the message holds no secret)."""


class AirflowApiStore:
    """Writes the connection's extra through Airflow's public REST API (``PATCH /api/v2/connections``)."""

    def __init__(
        self,
        api_conn_id: str,
        *,
        get_connection: Callable[[str], Any] | None = None,
        session: requests.Session | None = None,
        attempts: int = 4,
        wait_max: float = 10.0,
    ) -> None:
        self.api_conn_id = api_conn_id
        self._get_connection = get_connection or _airflow_connection
        self.session = session or requests.Session()
        self.attempts = attempts
        self.wait_max = wait_max
        self.description = f"Airflow's metadata database (REST API via connection {api_conn_id!r})"
        self._jwt: str | None = None
        self._base: str | None = None

    def read(self, conn_id: str) -> Any:
        # The REST API masks sensitive extras: read the way a task reads connections.
        return self._get_connection(conn_id)

    def _login(self, deadline: Deadline) -> None:
        try:
            api = self._get_connection(self.api_conn_id)
        except Exception as exc:
            raise TokenPersistenceError(
                f"Strava tokens are written back through Airflow's REST API, but the connection "
                f"{self.api_conn_id!r} cannot be read ({type(exc).__name__}). Create it: type http, host = "
                "the API server's base URL (e.g. https://airflow.example.com), login and password of a "
                "user allowed to edit connections (setting strava.airflow_api_conn_id in the config)."
            ) from None
        self._base = connection_url(api)
        url = f"{self._base}/auth/token"
        answer = send(
            self.session,
            "POST",
            url,
            what=f"Airflow's API login at {url}",
            json={"username": api.login, "password": api.password},
            timeout=deadline.timeout(),
        )
        if answer.status_code in (401, 403):
            raise _Refused(
                f"Airflow's API at {self._base} refused the login of connection {self.api_conn_id!r} "
                f"(HTTP {answer.status_code}): fix its login and password"
            )
        if answer.status_code >= 300:
            raise Transient(f"Airflow's API login at {url} answered HTTP {answer.status_code}")
        body = json_body(
            answer,
            endpoint=f"Airflow's API login {url}",
            conn_id=self.api_conn_id,
            what_to_do="Its host must be the API server's base URL, the address that serves /api/v2 and "
            "/auth/token (e.g. https://airflow.example.com), not a page or proxy in front of it.",
        )
        jwt = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(jwt, str) or not jwt:
            raise _Refused(f"Airflow's API login at {url} answered without an access token")
        mask(jwt, what=f"the Airflow API token of connection {self.api_conn_id!r}")
        self._jwt = jwt

    def _send(self, method: str, path: str, deadline: Deadline, **kwargs: Any) -> requests.Response:
        return send(
            self.session,
            method,
            f"{self._base}/api/v2{path}",
            what=f"Airflow's API {method} {path}",
            headers={"Authorization": f"Bearer {self._jwt}"},
            timeout=deadline.timeout(),
            **kwargs,
        )

    def _request(self, method: str, path: str, deadline: Deadline, **kwargs: Any) -> requests.Response:
        if self._jwt is None:
            self._login(deadline)
        answer = self._send(method, path, deadline, **kwargs)
        if answer.status_code == 401:  # the token expired or the API server restarted: log in again once
            self._login(deadline)
            answer = self._send(method, path, deadline, **kwargs)
        return answer

    def _retry(self, action: Callable[[], None], deadline: Deadline) -> None:
        retrying(attempts=self.attempts, wait_max=self.wait_max, multiplier=0.5, deadline=deadline)(action)

    def check(self, conn: Any, deadline: Deadline) -> None:
        """A PATCH whose update mask names a field the body leaves out: Airflow checks the permission
        to edit the connection and updates nothing."""
        conn_id = conn.conn_id
        path = f"/connections/{quote(conn_id, safe='')}"
        body = {"connection_id": conn_id, "conn_type": conn.conn_type or "strava"}

        def probe() -> None:
            answer = self._request("PATCH", path, deadline, params={"update_mask": "description"}, json=body)
            if answer.status_code == 404:
                raise _Refused(
                    f"Connection {conn_id!r} does not exist in Airflow's metadata database, so the "
                    "refreshed tokens cannot be written there. Create it (type 'Strava') in the UI or with "
                    "`airflow connections add`."
                )
            if answer.status_code in (401, 403):
                raise _Refused(
                    f"The user of connection {self.api_conn_id!r} may not edit connection {conn_id!r}: "
                    f"Airflow's API refused a PATCH that changes nothing (HTTP {answer.status_code}), so a "
                    "rotated refresh token could not be written back. Missing permission: edit (PUT) on "
                    "Connections (simple auth manager: role op or admin; FAB: 'can edit on Connections')."
                )
            if answer.status_code >= 300:
                raise Transient(f"Airflow's API PATCH {path} answered HTTP {answer.status_code}")

        try:
            self._retry(probe, deadline)
        except (_Refused, UnexpectedAnswerError) as exc:
            log.error("Airflow API store not writable for %s: %s", conn_id, exc)
            raise TokenPersistenceError(f"{exc} {NOT_ATTEMPTED}") from None
        except Transient as exc:
            log.error("Airflow API store not reachable for %s: %s", conn_id, exc)
            raise TokenPersistenceError(
                f"Cannot write connection {conn_id!r} through Airflow's REST API ({exc}). {NOT_ATTEMPTED} "
                f"Check the API server and the connection {self.api_conn_id!r}, then clear the task."
            ) from None

    def save_extra(self, conn: Any, extra: dict[str, Any], *, deadline: Deadline) -> None:
        path = f"/connections/{quote(conn.conn_id, safe='')}"
        body = {
            "connection_id": conn.conn_id,
            "conn_type": conn.conn_type or "strava",
            "extra": json.dumps(extra),
        }

        def patch() -> None:
            answer = self._request("PATCH", path, deadline, params={"update_mask": "extra"}, json=body)
            if answer.status_code in (401, 403, 404):
                raise _Refused(f"Airflow's API answered HTTP {answer.status_code} to PATCH {path}")
            if answer.status_code >= 300:
                raise Transient(f"Airflow's API PATCH {path} answered HTTP {answer.status_code}")

        try:
            self._retry(patch, deadline)
        except _Refused as exc:
            raise StoreWriteError(f"after the token rotation, {exc}") from None
        except (Transient, UnexpectedAnswerError) as exc:
            raise StoreWriteError(str(exc)) from None


def _denied(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 403 or code in ("AccessDeniedException", "AccessDenied", "403")


class SecretsManagerStore:
    """Updates the connection's secret in AWS Secrets Manager (JSON or URI, as it was stored)."""

    # The write check stages a version under its own label: AWSCURRENT, the value every reader gets, is
    # never touched, no secret is copied, and only secretsmanager:PutSecretValue is needed. Staging moves
    # the label, so one check version at most is labelled; unlabelled versions are AWS's to clean up.
    WRITE_CHECK_STAGE = "DATALAKE_WRITE_CHECK"

    def __init__(self, backend: Any, conn_id: str, *, attempts: int = 4, wait_max: float = 10.0) -> None:
        self.backend = backend
        prefix = backend.connections_prefix
        self.secret_id = f"{prefix}{backend.sep}{conn_id}" if prefix else conn_id
        self.attempts = attempts
        self.wait_max = wait_max
        self.description = f"AWS Secrets Manager secret {self.secret_id!r}"

    def _current(self) -> str:
        return self.backend.client.get_secret_value(SecretId=self.secret_id)["SecretString"]

    def read(self, conn_id: str) -> Any:
        return self.backend.get_connection(conn_id)

    def check(self, conn: Any, deadline: Deadline) -> None:
        try:
            self._current()
        except Exception as exc:
            raise TokenPersistenceError(
                f"Cannot read {self.description} for connection {conn.conn_id!r} ({type(exc).__name__}). "
                f"{NOT_ATTEMPTED} The task's AWS identity needs secretsmanager:GetSecretValue and "
                "secretsmanager:PutSecretValue on it."
            ) from None
        probe = json.dumps({"datalake_write_check": datetime.now(UTC).isoformat(timespec="seconds")})
        try:
            self.backend.client.put_secret_value(
                SecretId=self.secret_id, SecretString=probe, VersionStages=[self.WRITE_CHECK_STAGE]
            )
        except Exception as exc:
            if _denied(exc):
                reason = (
                    f"the task's AWS identity may read {self.description} but not write it: "
                    "PutSecretValue was refused, so a rotated refresh token could not be written back. "
                    "Missing permission: secretsmanager:PutSecretValue on that secret"
                )
            else:
                reason = f"a write check of {self.description} failed ({type(exc).__name__})"
            log.error("Secrets Manager store not writable for %s: %s", conn.conn_id, reason)
            raise TokenPersistenceError(
                f"Cannot refresh the Strava tokens of connection {conn.conn_id!r}: {reason}. {NOT_ATTEMPTED}"
            ) from None

    def _new_value(self, conn: Any, extra: dict[str, Any]) -> str:
        current = self._current()
        if current.strip().startswith("{"):
            doc = json.loads(current)
            doc["extra"] = extra if isinstance(doc.get("extra"), dict | None) else json.dumps(extra)
            return json.dumps(doc)
        from airflow.sdk import Connection

        return Connection(
            conn_id=conn.conn_id,
            conn_type=conn.conn_type,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extra=json.dumps(extra),
        ).get_uri()

    def save_extra(self, conn: Any, extra: dict[str, Any], *, deadline: Deadline) -> None:
        def put() -> None:
            deadline.timeout()  # out of time: stop before another call
            try:
                value = self._new_value(conn, extra)
                self.backend.client.put_secret_value(SecretId=self.secret_id, SecretString=value)
            except Exception as exc:
                raise Transient(f"{type(exc).__name__} from Secrets Manager") from None

        try:
            retrying(attempts=self.attempts, wait_max=self.wait_max, multiplier=0.5, deadline=deadline)(put)
        except Transient as exc:
            raise StoreWriteError(str(exc)) from None


def _configured_backend() -> tuple[str, dict[str, Any]]:
    from airflow.configuration import conf

    for section, key in (("workers", "secrets_backend"), ("secrets", "backend")):
        path = conf.get(section, key, fallback="") or ""
        if path:
            kwargs_key = "secrets_backend_kwargs" if section == "workers" else "backend_kwargs"
            raw = conf.get(section, kwargs_key, fallback="") or "{}"
            return path, json.loads(raw)
    return "", {}


def store_for(conn_id: str, airflow_api_conn_id: str) -> ConnectionStore:
    """The store for ``conn_id``, found in Airflow's own lookup order (secrets backend, env, DB)."""
    path, kwargs = _configured_backend()
    if path:
        from airflow.sdk.module_loading import import_string

        backend = import_string(path)(**kwargs)
        if backend.get_conn_value(conn_id) is not None:
            if path == SECRETS_MANAGER_BACKEND or type(backend).__name__ == "SecretsManagerBackend":
                return SecretsManagerStore(backend, conn_id)
            return UnwritableStore(
                conn_id,
                f"the secrets backend {path}",
                "Store the connection in the AWS Secrets Manager backend or Airflow's database instead.",
            )
    if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return env_var_store(conn_id)
    return AirflowApiStore(airflow_api_conn_id)
