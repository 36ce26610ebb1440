"""How the Strava package talks HTTP: one timeout, one retry policy, one deadline, https, JSON or an error.

The Strava API client, the token exchange and the Airflow API store all go through here:

- :data:`TIMEOUT`: the (connect, read) seconds of every request; :meth:`Deadline.timeout` cuts them to what
  a deadline has left, so a chain of requests (check, exchange, write-back) ends when its deadline does.
- :func:`retrying`: tenacity, exponential backoff with full jitter, on :class:`Transient` failures only
  (a dropped connection, a timeout, a 5xx), at most ``attempts`` tries and never a wait past the deadline.
- :func:`service_url`: the base URL of a connection's host. A host without a scheme gets ``https://``
  (Strava's host is ``www.strava.com``). Plain ``http`` is refused except on loopback addresses
  (127.0.0.0/8, ::1, localhost), where the embedded stack serves, or when the connection's extra says
  ``"allow_insecure_http": true`` (a private network such as docker-compose.yaml's): credentials and
  tokens must not cross a network in clear text by default.
- :func:`json_body`: the JSON of an answer, or an error naming the endpoint, the connection and what to do
  (an HTML page from a proxy, a login portal or a wrong host is the usual cause).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from datalake.strava.errors import ConnectionUrlError, UnexpectedAnswerError

TIMEOUT = (10.0, 30.0)  # seconds to connect, seconds between bytes of the answer
ALLOW_INSECURE_HTTP = "allow_insecure_http"  # the extra key that allows plain http to a named host
_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class Transient(Exception):
    """A failure a retry may fix: a dropped connection, a timeout, a 5xx (the message holds no secret)."""


class Deadline:
    """A moment after which no request starts and no retry waits (on a monotonic clock)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def before(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` earlier: what a step may use while keeping time for the next one."""
        earlier = Deadline(0, clock=self.clock)
        earlier.at = self.at - seconds
        return earlier

    def timeout(self, timeout: tuple[float, float] = TIMEOUT) -> tuple[float, float]:
        """``timeout`` cut to the time left; :class:`Transient` once there is none."""
        left = self.remaining()
        if left <= 0:
            raise Transient("out of time")
        return min(timeout[0], left), min(timeout[1], left)


def retrying(
    *,
    attempts: int,
    wait_max: float,
    multiplier: float = 1.0,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """The retry policy: :class:`Transient` failures only, jittered backoff, the last failure re-raised."""
    stop = stop_after_attempt(attempts)
    if deadline is not None:
        stop = stop | stop_before_delay(deadline.remaining())
    return Retrying(
        stop=stop,
        wait=wait_random_exponential(multiplier=multiplier, max=wait_max),
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
    )


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    timeout: tuple[float, float] = TIMEOUT,
    **kwargs: Any,
) -> requests.Response:
    """One request; a dropped connection or a timeout becomes :class:`Transient` (named by ``what``)."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except _CONNECTION_ERRORS as exc:
        raise Transient(f"{what}: {type(exc).__name__}") from None


def raise_if_transient(response: requests.Response, what: str) -> None:
    if response.status_code >= 500:
        raise Transient(f"{what} answered HTTP {response.status_code}")


def is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def service_url(
    host: str | None,
    *,
    conn_id: str,
    scheme: str | None = None,
    port: int | None = None,
    allow_insecure_http: bool = False,
) -> str:
    """The base URL of ``host`` (``https://`` unless it names a scheme); plain http only where allowed."""
    base = (host or "").strip().rstrip("/")
    if not base:
        raise ConnectionUrlError(f"Connection {conn_id!r} has no host: set it to the service's base URL.")
    if "://" not in base:
        base = f"{scheme or 'https'}://{base}"
        if port and urlsplit(base).port is None:
            base += f":{port}"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionUrlError(
            f"Connection {conn_id!r}: {base!r} is not an http(s) URL; set its host to the service's base URL."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        raise ConnectionUrlError(
            f"Connection {conn_id!r} points at {base}, plain http to a host that is not this machine: its "
            f"credentials and tokens would cross the network in clear text. Use https://{parts.netloc} "
            f'(or, only on a private network you trust, set its extra "{ALLOW_INSECURE_HTTP}": true). '
            "Nothing was sent."
        )
    return base


def connection_url(conn: Any, *, default_host: str | None = None) -> str:
    """:func:`service_url` of an Airflow connection (host, schema as the scheme, port, the opt-in extra)."""
    scheme = conn.schema if conn.schema in ("http", "https") else None
    allow = conn.extra_dejson.get(ALLOW_INSECURE_HTTP) is True
    host = conn.host or default_host
    return service_url(host, conn_id=conn.conn_id, scheme=scheme, port=conn.port, allow_insecure_http=allow)


def json_body(response: requests.Response, *, endpoint: str, conn_id: str, what_to_do: str) -> Any:
    """The JSON of ``response``, or :class:`UnexpectedAnswerError` naming the endpoint and connection."""
    try:
        return response.json()
    except ValueError:
        kind = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()
        raise UnexpectedAnswerError(
            f"{endpoint} (connection {conn_id!r}) answered HTTP {response.status_code} with {kind} "
            f"instead of JSON. {what_to_do}"
        ) from None
