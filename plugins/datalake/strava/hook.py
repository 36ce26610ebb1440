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

from datalake.strava.client import StravaClient
from datalake.strava.http import TIMEOUT
from datalake.strava.journal import TokenJournal
from datalake.strava.store import ConnectionStore, store_for
from datalake.strava.tokens import (
    REFRESH_MARGIN_S,
    RefreshOutcome,
    StravaTokens,
    ensure_fresh_tokens,
    strava_base_url,
    tokens_from_extra,
)


class StravaHook(BaseHook):
    """Talks to the Strava API with the tokens of a ``strava`` connection; writes refreshed ones back.

    Every refresh, the token task's and one after a 401 in the middle of an extraction, goes through
    :func:`datalake.strava.tokens.ensure_fresh_tokens` with the connection as its store holds it then.

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
        timeout: tuple[float, float] = TIMEOUT,
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
        return strava_base_url(self.connection())

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

    def _fresh(self, conn: Any, margin_s: float, refused_access_token: str | None = None) -> RefreshOutcome:
        self._tokens, outcome = ensure_fresh_tokens(
            conn,
            self.store,
            journal=TokenJournal(conn.conn_id),
            now=self.clock,
            margin_s=margin_s,
            session=self.get_conn(),
            refused_access_token=refused_access_token,
            sleep=self.sleep,
        )
        return outcome

    def ensure_fresh_token(self, margin_s: float = REFRESH_MARGIN_S) -> RefreshOutcome:
        """Refresh the access token if it expires within ``margin_s``, persisting before any use."""
        return self._fresh(self.connection(), margin_s)

    def _on_unauthorized(self, refused_access_token: str) -> str:
        # The connection read at task start may be hours old: re-read it where it lives.
        self._conn = self.store(self.strava_conn_id).read(self.strava_conn_id)
        self._fresh(self._conn, REFRESH_MARGIN_S, refused_access_token)
        access = self.tokens().access_token
        assert access is not None  # noqa: S101 - checked by the token exchange
        return access

    # -- API ----------------------------------------------------------------------------------------
    def client(self, *, deadline: float | None = None, allow_refresh: bool = True) -> StravaClient:
        """A :class:`StravaClient` with the connection's access token; a 401 takes the refresh path."""
        access = self.tokens().access_token
        if not access and allow_refresh:
            self.ensure_fresh_token()
            access = self.tokens().access_token
        return StravaClient(
            self.base_url,
            access or "",
            on_unauthorized=self._on_unauthorized if allow_refresh else None,
            conn_id=self.strava_conn_id,
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
