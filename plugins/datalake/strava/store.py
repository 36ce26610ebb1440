"""Where a refreshed token is written back: the place the Strava connection really lives.

Task code cannot write connections in Airflow 3, so the pipeline writes through:

- :class:`SecretsManagerStore` when the connection comes from the AWS Secrets Manager secrets backend
  (the secret is updated in place, in its own format: JSON or URI);
- :class:`AirflowApiStore` when it lives in Airflow's metadata DB (the public REST API, with the
  credentials of the ``airflow_api`` connection);
- :class:`UnwritableStore` when it is defined where the pipeline cannot write (an ``AIRFLOW_CONN_*``
  variable, another secrets backend): it refuses *before* any refresh, with what to do.

Every store has ``check()`` (called before the refresh, while the old refresh token still works) and
``save_extra()`` (called with the new tokens before they are used). No token ever reaches a message.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from datalake.strava.errors import REAUTHORISE_HELP, TokenPersistenceError

log = logging.getLogger(__name__)

HTTP_TIMEOUT = (10, 30)
SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


class ConnectionStore(Protocol):
    description: str

    def check(self, conn_id: str) -> None:
        """Raise :class:`TokenPersistenceError` unless ``save_extra`` can write this connection."""

    def save_extra(self, conn: Any, extra: dict[str, Any], *, rotated: bool) -> None:
        """Write ``extra`` (the whole new extra) to the connection; raise if it cannot."""


class _PersistFailed(Exception):
    """One write attempt failed (the message holds no secret)."""


def _lost_token_message(conn_id: str, where: str, reason: str, rotated: bool) -> str:
    if rotated:
        consequence = (
            "Strava rotated the refresh token, so the one still stored is no longer valid: "
            f"{REAUTHORISE_HELP}"
        )
    else:
        consequence = "The stored refresh token is still valid: fix the cause and clear the task to retry."
    return (
        f"Could not write the refreshed Strava tokens of connection {conn_id!r} to {where}: {reason}. "
        f"{consequence}"
    )


def _with_retries(action: Callable[[], None], attempts: int, wait_max: float) -> None:
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.5, max=wait_max),
        retry=retry_if_exception_type(_PersistFailed),
        reraise=False,
    ):
        with attempt:
            action()


def _write_or_fail(action: Callable[[], None], store: Any, conn_id: str, rotated: bool) -> None:
    """Run one write with retries; when every attempt failed, fail saying what was lost and what to do."""
    try:
        _with_retries(action, store.attempts, store.wait_max)
    except RetryError as exc:
        reason = str(exc.last_attempt.exception())
        log.error("Writing Strava tokens of %s to %s failed: %s", conn_id, store.description, reason)
        message = _lost_token_message(conn_id, store.description, reason, rotated)
        raise TokenPersistenceError(message) from None


class UnwritableStore:
    """The connection is defined where the pipeline cannot write it: refuse before refreshing."""

    def __init__(self, conn_id: str, where: str, what_to_do: str) -> None:
        self.conn_id = conn_id
        self.description = where
        self.what_to_do = what_to_do

    def check(self, conn_id: str) -> None:
        log.error("Strava connection %s is defined in %s, which the pipeline cannot update", conn_id, self)
        raise TokenPersistenceError(
            f"The Strava access token of connection {conn_id!r} must be refreshed, and Strava may rotate "
            f"the refresh token, but the connection is defined in {self.description}, which this pipeline "
            f"cannot update (a rotated refresh token would be lost). {self.what_to_do} "
            "The refresh was not attempted, so the stored refresh token is still valid."
        )

    def save_extra(self, conn: Any, extra: dict[str, Any], *, rotated: bool) -> None:
        self.check(conn.conn_id)

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
        self._get_connection = get_connection
        self.session = session or requests.Session()
        self.attempts = attempts
        self.wait_max = wait_max
        self.description = f"Airflow's metadata database (REST API via connection {api_conn_id!r})"
        self._jwt: str | None = None
        self._base: str | None = None

    def _api_connection(self) -> Any:
        if self._get_connection is not None:
            return self._get_connection(self.api_conn_id)
        from airflow.sdk.bases.hook import BaseHook

        return BaseHook.get_connection(self.api_conn_id)

    def _login(self) -> None:
        try:
            api = self._api_connection()
        except Exception as exc:
            raise TokenPersistenceError(
                f"Strava tokens are written back through Airflow's REST API, but the connection "
                f"{self.api_conn_id!r} cannot be read ({type(exc).__name__}). Create it: type http, host = "
                "the API server's base URL (e.g. https://airflow.example.com), login and password of a "
                "user allowed to edit connections (setting strava.airflow_api_conn_id in the config)."
            ) from None
        host = (api.host or "").rstrip("/")
        if not host.startswith(("http://", "https://")):
            host = f"{api.schema or 'http'}://{host}" + (f":{api.port}" if api.port else "")
        self._base = host
        try:
            answer = self.session.post(
                f"{host}/auth/token",
                json={"username": api.login, "password": api.password},
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise _PersistFailed(f"Airflow API at {host} unreachable ({type(exc).__name__})") from None
        if answer.status_code in (401, 403):
            raise TokenPersistenceError(
                f"Airflow's API at {host} refused the login of connection {self.api_conn_id!r} "
                f"(HTTP {answer.status_code}): fix its login/password."
            )
        if answer.status_code >= 300:
            raise _PersistFailed(f"Airflow API login answered HTTP {answer.status_code}")
        self._jwt = answer.json()["access_token"]
        from datalake.strava.tokens import mask

        mask(self._jwt)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self._jwt is None:
            self._login()
        try:
            return self.session.request(
                method,
                f"{self._base}/api/v2{path}",
                headers={"Authorization": f"Bearer {self._jwt}"},
                timeout=HTTP_TIMEOUT,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise _PersistFailed(f"Airflow API unreachable ({type(exc).__name__})") from None

    def check(self, conn_id: str) -> None:
        def probe() -> None:
            answer = self._request("GET", f"/connections/{quote(conn_id, safe='')}")
            if answer.status_code == 404:
                raise TokenPersistenceError(
                    f"Connection {conn_id!r} does not exist in Airflow's metadata database, so the "
                    "refreshed tokens cannot be written there. Create it (type 'Strava') in the UI or with "
                    "`airflow connections add`."
                )
            if answer.status_code in (401, 403):
                raise TokenPersistenceError(
                    f"The user of connection {self.api_conn_id!r} may not read connection {conn_id!r} "
                    f"(HTTP {answer.status_code}): give it permission to edit connections."
                )
            if answer.status_code >= 300:
                raise _PersistFailed(f"GET connection answered HTTP {answer.status_code}")

        try:
            _with_retries(probe, self.attempts, self.wait_max)
        except RetryError as exc:
            reason = str(exc.last_attempt.exception())
            log.error("Airflow API store not usable for %s: %s", conn_id, reason)
            raise TokenPersistenceError(
                f"Cannot write connection {conn_id!r} through Airflow's REST API ({reason}); the refresh was "
                "not attempted. Check the API server and the connection "
                f"{self.api_conn_id!r}, then clear the task."
            ) from None

    def save_extra(self, conn: Any, extra: dict[str, Any], *, rotated: bool) -> None:
        body = {
            "connection_id": conn.conn_id,
            "conn_type": conn.conn_type or "strava",
            "extra": json.dumps(extra),
        }

        def patch() -> None:
            answer = self._request(
                "PATCH",
                f"/connections/{quote(conn.conn_id, safe='')}",
                params={"update_mask": "extra"},
                json=body,
            )
            if answer.status_code == 401:
                self._jwt = None  # token expired: log in again on the next attempt
            if answer.status_code >= 300:
                raise _PersistFailed(f"PATCH connection answered HTTP {answer.status_code}")

        _write_or_fail(patch, self, conn.conn_id, rotated)


class SecretsManagerStore:
    """Updates the connection's secret in AWS Secrets Manager (JSON or URI, as it was stored)."""

    def __init__(self, backend: Any, conn_id: str, *, attempts: int = 4, wait_max: float = 10.0) -> None:
        self.backend = backend
        prefix = backend.connections_prefix
        self.secret_id = f"{prefix}{backend.sep}{conn_id}" if prefix else conn_id
        self.attempts = attempts
        self.wait_max = wait_max
        self.description = f"AWS Secrets Manager secret {self.secret_id!r}"

    def _current(self) -> str:
        return self.backend.client.get_secret_value(SecretId=self.secret_id)["SecretString"]

    def check(self, conn_id: str) -> None:
        try:
            self._current()
        except Exception as exc:
            raise TokenPersistenceError(
                f"Cannot read {self.description} for connection {conn_id!r} ({type(exc).__name__}); the "
                "refresh was not attempted. The task's AWS identity needs secretsmanager:GetSecretValue "
                "and secretsmanager:PutSecretValue on it."
            ) from None

    def save_extra(self, conn: Any, extra: dict[str, Any], *, rotated: bool) -> None:
        def put() -> None:
            try:
                current = self._current()
                if current.strip().startswith("{"):
                    doc = json.loads(current)
                    doc["extra"] = extra if isinstance(doc.get("extra"), dict | None) else json.dumps(extra)
                    value = json.dumps(doc)
                else:
                    from airflow.sdk import Connection

                    value = Connection(
                        conn_id=conn.conn_id,
                        conn_type=conn.conn_type,
                        host=conn.host,
                        login=conn.login,
                        password=conn.password,
                        schema=conn.schema,
                        port=conn.port,
                        extra=json.dumps(extra),
                    ).get_uri()
                self.backend.client.put_secret_value(SecretId=self.secret_id, SecretString=value)
            except Exception as exc:
                raise _PersistFailed(f"{type(exc).__name__} from Secrets Manager") from None

        _write_or_fail(put, self, conn.conn_id, rotated)


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
