"""StravaHook: the ``strava`` connection type (client id/secret, tokens) in the style of Airflow's hooks.

The connection: host = Strava's base URL (default ``https://www.strava.com``; the local stand-in's URL on
the embedded stack), login = client id, password = client secret, extra = ``refresh_token``,
``access_token``, ``expires_at``. The form itself is declared in :mod:`datalake.provider`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from airflow.sdk.bases.hook import BaseHook

from datalake.strava.client import HTTP_TIMEOUT, StravaClient
from datalake.strava.errors import StravaAuthorizationError
from datalake.strava.store import ConnectionStore, store_for
from datalake.strava.tokens import (
    DEFAULT_HOST,
    REFRESH_MARGIN_S,
    RefreshOutcome,
    StravaTokens,
    ensure_fresh_tokens,
    refresh_and_persist,
    tokens_from_extra,
)


class StravaHook(BaseHook):
    """Talks to the Strava API with the tokens of a ``strava`` connection; writes refreshed ones back.

    :param strava_conn_id: the connection (default ``strava_default``).
    :param airflow_api_conn_id: the connection to Airflow's REST API, used to write refreshed tokens
        back when the Strava connection lives in the metadata DB.
    """

    conn_name_attr = "strava_conn_id"
    default_conn_name = "strava_default"
    conn_type = "strava"
    hook_name = "Strava"

    def __init__(
        self,
        strava_conn_id: str = default_conn_name,
        *,
        airflow_api_conn_id: str = "airflow_api",
        store_factory: Callable[[str], ConnectionStore] | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        timeout: tuple[float, float] = HTTP_TIMEOUT,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self.strava_conn_id = strava_conn_id
        self.airflow_api_conn_id = airflow_api_conn_id
        self._store_factory = store_factory
        self._session = session
        self.clock = clock
        self.sleep = sleep
        self._conn: Any = None
        self._tokens: StravaTokens | None = None

    # -- connection ---------------------------------------------------------------------------------
    def connection(self) -> Any:
        if self._conn is None:
            self._conn = self.get_connection(self.strava_conn_id)
        return self._conn

    @property
    def base_url(self) -> str:
        host = (self.connection().host or DEFAULT_HOST).rstrip("/")
        if not host.startswith(("http://", "https://")):
            host = "https://" + host
        return host

    def get_conn(self) -> requests.Session:
        """The HTTP session (created lazily; nothing connects before the first call)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def store(self, conn_id: str) -> ConnectionStore:
        if self._store_factory is not None:
            return self._store_factory(conn_id)
        return store_for(conn_id, self.airflow_api_conn_id)

    # -- tokens -------------------------------------------------------------------------------------
    def tokens(self) -> StravaTokens:
        """The current tokens: the connection's, or those this hook refreshed and persisted since."""
        if self._tokens is not None:
            return self._tokens
        conn = self.connection()
        return tokens_from_extra(conn.extra_dejson, conn.conn_id)

    def ensure_fresh_token(self, margin_s: float = REFRESH_MARGIN_S) -> RefreshOutcome:
        """Refresh the access token if it expires within ``margin_s``, persisting before any use.

        Strava refuses a refresh token the moment it has rotated it. When another run refreshed (and
        persisted) in the meantime, the connection read at the start of this task holds the old one:
        a refusal is therefore checked against the connection as it is now before it is final.
        """
        conn = self.connection()
        try:
            self._tokens, outcome = ensure_fresh_tokens(
                conn, self.store, now=self.clock, margin_s=margin_s, session=self.get_conn()
            )
        except StravaAuthorizationError:
            sent = tokens_from_extra(conn.extra_dejson, conn.conn_id).refresh_token
            self._conn = None
            current = self.connection()
            if tokens_from_extra(current.extra_dejson, current.conn_id).refresh_token == sent:
                raise  # nobody rotated it: it really is invalid or revoked
            self.log.info("The refresh token of %s was rotated by another run; using that one", conn.conn_id)
            self._tokens, outcome = ensure_fresh_tokens(
                current, self.store, now=self.clock, margin_s=margin_s, session=self.get_conn()
            )
        return outcome

    def _refresh_now(self) -> str:
        conn = self.connection()
        new = refresh_and_persist(conn, self.tokens(), self.store(conn.conn_id), session=self.get_conn())
        self._tokens = new  # persisted already; the connection object in hand is now stale
        assert new.access_token is not None  # noqa: S101 - checked by the token exchange
        return new.access_token

    # -- API ----------------------------------------------------------------------------------------
    def client(self, *, deadline: float | None = None, allow_refresh: bool = True) -> StravaClient:
        """A :class:`StravaClient` with the connection's access token; a 401 refreshes once."""
        tokens = self.tokens()
        if not tokens.access_token:
            tokens_access = self._refresh_now() if allow_refresh else ""
        else:
            tokens_access = tokens.access_token
        return StravaClient(
            self.base_url,
            tokens_access,
            on_unauthorized=self._refresh_now if allow_refresh else None,
            session=self.get_conn(),
            clock=self.clock,
            sleep=self.sleep,
            deadline=deadline,
            timeout=self.timeout,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Backs the UI's Test button: refreshes (and persists) the token if needed, reads the athlete."""
        try:
            self.ensure_fresh_token()
            athlete = self.client(allow_refresh=False).athlete()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to Strava as athlete {athlete.get('id')}"
