"""OAuth tokens of the Strava connection: when to refresh, how, and persisting what Strava returns.

The order is the point: a refresh is only attempted once the place the connection lives in is known
to be writable (so a rotated refresh token can never be dropped), and what Strava returns is written
back *before* the new access token is used by anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from datalake.strava.errors import (
    REAUTHORISE_HELP,
    MaskedTokenError,
    StravaAuthorizationError,
    StravaError,
)

if TYPE_CHECKING:
    from datalake.strava.store import ConnectionStore

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://www.strava.com"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
# Refresh when the access token has less than this left: an extraction must finish with it.
REFRESH_MARGIN_S = 3600
HTTP_TIMEOUT = (10, 30)
MASKED = "***"
EXTRA_KEYS = ("refresh_token", "access_token", "expires_at")


def mask(value: str | None) -> None:
    """Register a token with Airflow's secrets masker (task and supervisor) before anything logs it."""
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # outside a task the masker may be unavailable; never let masking break a run
        log.debug("mask_secret unavailable here")


@dataclass(frozen=True)
class StravaTokens:
    refresh_token: str
    access_token: str | None = None
    expires_at: int | None = None

    def __repr__(self) -> str:  # never print a token, even in a traceback's locals
        return f"StravaTokens(expires_at={self.expires_at})"

    __str__ = __repr__

    def needs_refresh(self, now: float, margin_s: float = REFRESH_MARGIN_S) -> bool:
        """True when there is no access token or it expires within ``margin_s`` seconds."""
        return not self.access_token or self.expires_at is None or self.expires_at - now <= margin_s

    def as_extra(self) -> dict[str, Any]:
        return {
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "expires_at": self.expires_at,
        }


def _extra_value(extra: Mapping[str, Any], key: str) -> Any:
    # The UI may store form fields with the legacy prefix; accept both spellings.
    value = extra.get(key)
    if value in (None, ""):
        value = extra.get(f"extra__strava__{key}")
    return None if value == "" else value


def _checked_token(value: Any, name: str, conn_id: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise MaskedTokenError(
                f"Connection {conn_id!r} has no {name}. Put the refresh token of an authorised grant "
                f"into its 'Refresh token' field. {REAUTHORISE_HELP}"
            )
        return None
    if not isinstance(value, str) or not value.strip():
        raise MaskedTokenError(f"Connection {conn_id!r}: {name} must be a non-empty string.")
    if set(value.strip()) == {"*"}:
        raise MaskedTokenError(
            f"Connection {conn_id!r}: {name} holds the masked placeholder '***' instead of a token "
            "(a known UI bug saves it back when the connection is edited). Enter the real refresh "
            f"token again in the connection form. {REAUTHORISE_HELP}"
        )
    return value


def tokens_from_extra(extra: Mapping[str, Any], conn_id: str) -> StravaTokens:
    """Read and validate the tokens of a connection's extra. Refuses '***' and empty values."""
    refresh = _checked_token(_extra_value(extra, "refresh_token"), "refresh_token", conn_id, required=True)
    access = _checked_token(_extra_value(extra, "access_token"), "access_token", conn_id, required=False)
    expires_raw = _extra_value(extra, "expires_at")
    try:
        expires_at = int(expires_raw) if expires_raw is not None else None
    except (TypeError, ValueError):
        raise MaskedTokenError(f"Connection {conn_id!r}: expires_at must be epoch seconds.") from None
    mask(refresh)
    mask(access)
    assert refresh is not None  # noqa: S101 - required=True guarantees it
    return StravaTokens(refresh_token=refresh, access_token=access, expires_at=expires_at)


def exchange_refresh_token(
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    conn_id: str,
    session: requests.Session | None = None,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> StravaTokens:
    """``POST /oauth/token`` (form body) with grant_type=refresh_token; mask the answer at once.

    A 400/401 means the refresh token is invalid or revoked: fail at once with how to re-authorise.
    Network errors and 5xx are retried a few times (the old refresh token stays valid until Strava
    answers with a new one, so a retry is safe).
    """
    session = session or requests.Session()
    url = base_url.rstrip("/") + TOKEN_PATH
    data = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    last: str = ""
    for attempt in range(1, attempts + 1):
        try:
            response = session.post(url, data=data, timeout=HTTP_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = type(exc).__name__
        else:
            if response.status_code in (400, 401):
                raise StravaAuthorizationError(
                    f"Strava refused the refresh token of connection {conn_id!r} "
                    f"(HTTP {response.status_code}): it is invalid or was revoked. {REAUTHORISE_HELP}"
                )
            if response.status_code < 500 and response.status_code != 429:
                response.raise_for_status()
                return _tokens_from_answer(response.json(), conn_id)
            last = f"HTTP {response.status_code}"
        log.warning("Token refresh for %s failed (%s), attempt %d/%d", conn_id, last, attempt, attempts)
        if attempt < attempts:
            sleep(min(30.0, 2.0**attempt))
    raise StravaError(f"Strava's token endpoint kept failing for connection {conn_id!r} ({last})")


def _tokens_from_answer(body: Any, conn_id: str) -> StravaTokens:
    try:
        access, refresh, expires_at = body["access_token"], body["refresh_token"], int(body["expires_at"])
    except (KeyError, TypeError, ValueError):
        raise StravaError(f"Strava's token answer for {conn_id!r} lacks access_token/refresh_token") from None
    mask(access)
    mask(refresh)
    tokens = StravaTokens(refresh_token=refresh, access_token=access, expires_at=expires_at)
    _checked_token(access, "access_token", conn_id, required=True)
    _checked_token(refresh, "refresh_token", conn_id, required=True)
    return tokens


@dataclass(frozen=True)
class RefreshOutcome:
    """What the token task reports (no secrets: this goes to XCom and the log)."""

    conn_id: str
    refreshed: bool
    rotated: bool
    expires_at: int | None
    stored_in: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "refreshed": self.refreshed,
            "refresh_token_rotated": self.rotated,
            "expires_at": self.expires_at,
            "stored_in": self.stored_in,
        }


def refresh_and_persist(
    conn: Any,
    tokens: StravaTokens,
    store: ConnectionStore,
    *,
    session: requests.Session | None = None,
) -> StravaTokens:
    """Refresh the tokens and write them back, then return them. Nothing uses them before the write."""
    store.check(conn.conn_id)  # fail before the refresh, while the old refresh token still works
    base_url = conn.host or DEFAULT_HOST
    new = exchange_refresh_token(
        base_url,
        str(conn.login or ""),
        str(conn.password or ""),
        tokens.refresh_token,
        conn_id=conn.conn_id,
        session=session,
    )
    rotated = new.refresh_token != tokens.refresh_token
    extra = dict(conn.extra_dejson)
    for key in EXTRA_KEYS:
        extra.pop(f"extra__strava__{key}", None)
    extra.update(new.as_extra())
    store.save_extra(conn, extra, rotated=rotated)
    log.info(
        "Strava tokens of %s refreshed (refresh token %s) and written to %s; access token expires at %s",
        conn.conn_id,
        "rotated" if rotated else "unchanged",
        store.description,
        new.expires_at,
    )
    return new


def ensure_fresh_tokens(
    conn: Any,
    store_factory: Callable[[str], ConnectionStore],
    *,
    now: Callable[[], float] = time.time,
    margin_s: float = REFRESH_MARGIN_S,
    session: requests.Session | None = None,
) -> tuple[StravaTokens, RefreshOutcome]:
    """Reuse the access token while it has more than ``margin_s`` left, else refresh and persist."""
    tokens = tokens_from_extra(conn.extra_dejson, conn.conn_id)
    if not tokens.needs_refresh(now(), margin_s):
        log.info(
            "Strava access token of %s is valid until %s: no refresh needed", conn.conn_id, tokens.expires_at
        )
        return tokens, RefreshOutcome(conn.conn_id, False, False, tokens.expires_at, "unchanged")
    store = store_factory(conn.conn_id)
    new = refresh_and_persist(conn, tokens, store, session=session)
    outcome = RefreshOutcome(
        conn.conn_id, True, new.refresh_token != tokens.refresh_token, new.expires_at, store.description
    )
    return new, outcome
