"""OAuth tokens of the Strava connection: when to refresh, how, and how a rotated refresh token is never lost.

Strava invalidates a refresh token the moment it answers with a new one, so there is one path that
refreshes, :func:`ensure_fresh_tokens`, for the token task and for a 401 in the middle of an extraction
alike. In order:

1. Settle the journal (:mod:`datalake.strava.journal`): wait for a refresh in flight elsewhere; write to
   the store the answer of one that stopped before it could (killed, timed out, the store failing).
2. Keep the stored access token while it is good. After a 401, any stored one other than the refused one
   is good (another run refreshed meanwhile).
3. Otherwise refresh, within one deadline (:data:`TOKEN_BUDGET_S`, well inside the token task's
   5-minute limit), each step before the next:

   a. refuse masked or empty client credentials and plain http off this machine: nothing is sent;
   b. prove the store writable (a write that changes nothing): a read-only store fails here, naming the
      missing permission, while the stored refresh token still works;
   c. write the journal's ``refreshing`` entry (this proves the journal writable, and others wait for it);
   d. ``POST /oauth/token``;
   e. write Strava's answer to the journal, then to the store, then remove the journal entry.

   Strava refusing the refresh token is checked against the store (and the journal) as they are now:
   when another run rotated it meanwhile, that run's tokens are used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from datalake.redaction import MaskingError, mask
from datalake.strava.errors import (
    REAUTHORISE_HELP,
    ClientCredentialsRefused,
    MaskedTokenError,
    RefreshTokenRefused,
    StoreWriteError,
    StravaAuthorizationError,
    StravaError,
    TokenPersistenceError,
    TokenWriteDeferred,
)
from datalake.strava.http import (
    Deadline,
    Transient,
    connection_url,
    json_body,
    raise_if_transient,
    retrying,
    send,
    service_url,
)
from datalake.strava.journal import ANSWERED, REFRESHING, JournalError, TokenJournal, fingerprint
from datalake.strava.store import ConnectionStore

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://www.strava.com"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
# Refresh when the access token has less than this left: an extraction must finish with it.
REFRESH_MARGIN_S = 3600
# After a 401, a stored access token (other than the refused one) with more than this left is used.
UNAUTHORIZED_MARGIN_S = 60
# Store check, exchange and write-back together. The token task has 5 minutes; the worst case, a wait for
# another refresh in flight (at most its budget), a refused refresh, then a second one after the grace
# below, fits well inside them.
TOKEN_BUDGET_S = 60.0
# The exchange stops retrying once less than this share of the budget is left: the rest is the writes'.
WRITE_SHARE = 0.5
SETTLE_POLL_S = 0.5
# How long a refused refresh token is checked against the store before the refusal counts.
REFUSAL_GRACE_S = 3.0
EXTRA_KEYS = ("refresh_token", "access_token", "expires_at")
SETTINGS_HELP = "the app's Client ID and Client Secret are on https://www.strava.com/settings/api"


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


@dataclass(frozen=True)
class RefreshOutcome:
    """What the token task reports (no secrets: this goes to XCom and the log)."""

    conn_id: str
    refreshed: bool
    rotated: bool
    expires_at: int | None
    stored_in: str
    recovered: bool = False  # the answer of an earlier, interrupted refresh was written to the store

    def as_dict(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "refreshed": self.refreshed,
            "refresh_token_rotated": self.rotated,
            "expires_at": self.expires_at,
            "stored_in": self.stored_in,
            "recovered_from_journal": self.recovered,
        }


# -- reading and checking -------------------------------------------------------------------------------
def _extra_value(extra: Mapping[str, Any], key: str) -> Any:
    # The UI may store form fields with the legacy prefix; accept both spellings.
    value = extra.get(key)
    if value in (None, ""):
        value = extra.get(f"extra__strava__{key}")
    return None if value == "" else value


def _is_masked(value: str) -> bool:
    return set(value.strip()) == {"*"}


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
    if _is_masked(value):
        raise MaskedTokenError(
            f"Connection {conn_id!r}: {name} holds the masked placeholder '***' instead of a token "
            "(a known UI bug saves it back when the connection is edited). Enter the real refresh "
            f"token again in the connection form. {REAUTHORISE_HELP}"
        )
    return value


def _checked_tokens(extra: Mapping[str, Any], conn_id: str) -> StravaTokens:
    refresh = _checked_token(_extra_value(extra, "refresh_token"), "refresh_token", conn_id, required=True)
    access = _checked_token(_extra_value(extra, "access_token"), "access_token", conn_id, required=False)
    expires_raw = _extra_value(extra, "expires_at")
    try:
        expires_at = int(expires_raw) if expires_raw is not None else None
    except (TypeError, ValueError):
        raise MaskedTokenError(f"Connection {conn_id!r}: expires_at must be epoch seconds.") from None
    assert refresh is not None  # noqa: S101 - required=True guarantees it
    return StravaTokens(refresh_token=refresh, access_token=access, expires_at=expires_at)


def _mask_tokens(tokens: StravaTokens, conn_id: str) -> None:
    mask(tokens.refresh_token, what=f"the refresh token of connection {conn_id!r}")
    mask(tokens.access_token, what=f"the access token of connection {conn_id!r}")


def tokens_from_extra(extra: Mapping[str, Any], conn_id: str) -> StravaTokens:
    """Read, validate and mask the tokens of a connection's extra. Refuses '***' and empty values."""
    tokens = _checked_tokens(extra, conn_id)
    _mask_tokens(tokens, conn_id)
    return tokens


def client_credentials(conn: Any) -> tuple[str, str]:
    """The connection's client id and secret, refused when empty or masked (nothing is sent then)."""
    values = []
    fields = ((conn.login, "client ID", "login"), (conn.password, "client secret", "password"))
    for value, name, field in fields:
        if not isinstance(value, str) or not value.strip():
            raise MaskedTokenError(
                f"Connection {conn.conn_id!r} has no {name}: set its {field} ({SETTINGS_HELP})."
            )
        if _is_masked(value):
            raise MaskedTokenError(
                f"Connection {conn.conn_id!r}: its {name} ({field}) holds the masked placeholder '***' "
                "(a known UI bug saves it back when the connection is edited). Enter the real value again "
                f"in the connection form ({SETTINGS_HELP}). Nothing was sent to Strava."
            )
        values.append(value)
    return values[0], values[1]


def strava_base_url(conn: Any) -> str:
    """The connection's Strava base URL (``https://`` unless its host names a scheme), as the hook uses it."""
    return connection_url(conn, default_host=DEFAULT_HOST)


# -- the exchange ---------------------------------------------------------------------------------------
def _error_fields(response: requests.Response) -> list[tuple[str, str]]:
    """(resource, field) of each error in Strava's error body (empty if the body says nothing)."""
    try:
        errors = [e for e in response.json().get("errors") or [] if isinstance(e, dict)]
        return [(str(e.get("resource") or ""), str(e.get("field") or "")) for e in errors]
    except (ValueError, AttributeError):
        return []


def _refusal(response: requests.Response, url: str, conn_id: str) -> Exception:
    """The exception for a 400/401 of the token endpoint, naming the credential Strava refused."""
    status = response.status_code
    fields = _error_fields(response)
    if any(field == "refresh_token" or resource == "RefreshToken" for resource, field in fields):
        return RefreshTokenRefused(
            f"Strava refused the refresh token of connection {conn_id!r} (HTTP {status} from {url}, "
            f"field refresh_token): it is invalid or was revoked. {REAUTHORISE_HELP}"
        )
    client = [field for resource, field in fields if field in ("client_id", "client_secret")]
    if client or any(resource == "Application" for resource, _ in fields):
        named = client[0] if client else "the application"
        which = {"client_id": "login (Client ID)", "client_secret": "password (Client Secret)"}.get(
            named, "login and password (Client ID and Client Secret)"
        )
        return ClientCredentialsRefused(
            f"Strava's token endpoint {url} refused the app credentials of connection {conn_id!r} "
            f"(HTTP {status}, field {named}): fix the connection's {which}; {SETTINGS_HELP}. The refresh "
            "token was not accepted or rotated: it still works once the credentials are right. Then clear "
            "the task."
        )
    return StravaAuthorizationError(
        f"Strava's token endpoint {url} refused the refresh for connection {conn_id!r} (HTTP {status}) "
        "without naming the credential: check the connection's login (Client ID) and password (Client "
        f"Secret) first ({SETTINGS_HELP}); if they are right, the refresh token is invalid. "
        f"{REAUTHORISE_HELP}"
    )


def _tokens_from_answer(body: Any, conn_id: str) -> StravaTokens:
    try:
        access, refresh, expires_at = body["access_token"], body["refresh_token"], int(body["expires_at"])
    except (KeyError, TypeError, ValueError):
        raise StravaError(f"Strava's token answer for {conn_id!r} lacks access_token/refresh_token") from None
    _checked_token(access, "access_token", conn_id, required=True)
    _checked_token(refresh, "refresh_token", conn_id, required=True)
    return StravaTokens(refresh_token=refresh, access_token=access, expires_at=expires_at)


def _post_refresh(
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    conn_id: str,
    session: requests.Session,
    deadline: Deadline,
    attempts: int,
    sleep: Callable[[float], None],
) -> StravaTokens:
    """``POST /oauth/token`` (form body) with retries on transient failures; the answer, not yet masked."""
    url = base_url.rstrip("/") + TOKEN_PATH
    what = f"Strava's token endpoint {url}"
    data = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }

    def post() -> StravaTokens:
        response = send(session, "POST", url, what=what, data=data, timeout=deadline.timeout())
        if response.status_code in (400, 401):
            raise _refusal(response, url, conn_id)
        if response.status_code == 429:
            raise Transient(f"{what} answered HTTP 429")
        raise_if_transient(response, what)
        if response.status_code >= 300:
            raise StravaError(f"{what} answered HTTP {response.status_code} for connection {conn_id!r}")
        body = json_body(
            response,
            endpoint=what,
            conn_id=conn_id,
            what_to_do="The connection's host must be Strava's API (https://www.strava.com), reached "
            "without a proxy or portal that answers in its place. Nothing was rotated.",
        )
        return _tokens_from_answer(body, conn_id)

    # A retry is safe: Strava keeps the old refresh token valid until it answers with a new one.
    policy = retrying(attempts=attempts, wait_max=30.0, multiplier=2.0, deadline=deadline, sleep=sleep)
    try:
        return policy(post)
    except Transient as exc:
        raise StravaError(f"{what} kept failing for connection {conn_id!r} ({exc})") from None


def exchange_refresh_token(
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    conn_id: str,
    session: requests.Session | None = None,
    deadline: Deadline | None = None,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    allow_insecure_http: bool = False,
) -> StravaTokens:
    """Exchange a refresh token for new tokens and mask them at once.

    A refusal names the credential Strava refused (the refresh token, or the app's client id/secret).
    Network errors, 429 and 5xx are retried within the deadline.
    """
    base = service_url(base_url, conn_id=conn_id, allow_insecure_http=allow_insecure_http)
    tokens = _post_refresh(
        base,
        client_id,
        client_secret,
        refresh_token,
        conn_id=conn_id,
        session=session or requests.Session(),
        deadline=deadline or Deadline(TOKEN_BUDGET_S),
        attempts=attempts,
        sleep=sleep,
    )
    _mask_tokens(tokens, conn_id)
    return tokens


# -- writing back ---------------------------------------------------------------------------------------
def _merged_extra(conn: Any, tokens: StravaTokens | Mapping[str, Any]) -> dict[str, Any]:
    extra = dict(conn.extra_dejson)
    for key in EXTRA_KEYS:
        extra.pop(f"extra__strava__{key}", None)
    extra.update(tokens.as_extra() if isinstance(tokens, StravaTokens) else dict(tokens))
    return extra


def _write_failed(conn_id: str, where: str, reason: str, rotated: bool, kept_in: str | None) -> Exception:
    """What a failed write-back means: nothing lost (the journal keeps the answer), or what was lost."""
    head = f"Could not write the refreshed Strava tokens of connection {conn_id!r} to {where}: {reason}."
    if rotated:
        head += " Strava has rotated the refresh token: the one still stored no longer works."
    else:
        head += " Strava did not rotate the refresh token: the one stored still works."
    if kept_in:
        return TokenWriteDeferred(
            f"{head} Nothing is lost: Strava's answer is kept in {kept_in} (masked), and the next try "
            f"writes it to {where} before anything else. Fix the cause; the task's retries pick it up."
        )
    if rotated:
        return TokenPersistenceError(
            f"{head} The new one is lost too (the token journal could not keep it). {REAUTHORISE_HELP}"
        )
    return TokenPersistenceError(f"{head} Fix the cause and clear the task to retry.")


def _save(
    conn: Any,
    extra: dict[str, Any],
    store: ConnectionStore,
    *,
    rotated: bool,
    deadline: Deadline,
    kept_in: str | None,
) -> None:
    try:
        store.save_extra(conn, extra, deadline=deadline)
    except StoreWriteError as exc:
        log.error("Writing the Strava tokens of %s to %s failed: %s", conn.conn_id, store.description, exc)
        raise _write_failed(conn.conn_id, store.description, str(exc), rotated, kept_in) from None


def refresh_and_persist(
    conn: Any,
    tokens: StravaTokens,
    store: ConnectionStore,
    *,
    journal: TokenJournal | None = None,
    session: requests.Session | None = None,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StravaTokens:
    """Refresh the tokens and write them back (steps a to e above), then return them."""
    deadline = deadline or Deadline(TOKEN_BUDGET_S)
    conn_id = conn.conn_id
    base_url = strava_base_url(conn)
    client_id, client_secret = client_credentials(conn)
    store.check(conn, deadline)  # fail before the refresh, while the stored refresh token still works
    entry = None
    if journal is not None:
        try:
            entry = journal.begin(tokens.refresh_token, until=journal.clock() + deadline.remaining())
        except JournalError as exc:
            raise TokenPersistenceError(
                f"The Strava tokens of connection {conn_id!r} must be refreshed, but {exc}, where the "
                "pipeline keeps Strava's answer until the connection holds it. The refresh was not "
                "attempted, so the stored refresh token is still valid: check the worker's access to "
                "Airflow Variables, then clear the task."
            ) from None
    try:
        new = _post_refresh(
            base_url,
            client_id,
            client_secret,
            tokens.refresh_token,
            conn_id=conn_id,
            session=session or requests.Session(),
            deadline=deadline.before(deadline.remaining() * WRITE_SHARE),
            attempts=4,
            sleep=sleep,
        )
    except BaseException:
        if journal is not None and entry is not None:
            journal.clear(entry)
        raise
    # From here on Strava may have rotated the refresh token: keep the answer before anything can fail.
    masking_failed: MaskingError | None = None
    try:
        _mask_tokens(new, conn_id)
    except MaskingError as exc:
        masking_failed = exc  # write the tokens first (they must not be lost), then fail the task
    rotated = new.refresh_token != tokens.refresh_token
    kept_in = None
    if journal is not None and entry is not None:
        try:
            entry = journal.answered(entry, new.as_extra())
            kept_in = journal.where
        except JournalError as exc:
            log.error("Could not keep Strava's answer for %s in the journal (%s)", conn_id, exc)
    _save(conn, _merged_extra(conn, new), store, rotated=rotated, deadline=deadline, kept_in=kept_in)
    if journal is not None and entry is not None:
        journal.clear(entry)
    log.info(
        "Strava tokens of %s refreshed (refresh token %s) and written to %s; access token expires at %s",
        conn_id,
        "rotated" if rotated else "unchanged",
        store.description,
        new.expires_at,
    )
    if masking_failed is not None:
        raise masking_failed
    return new


# -- the one path ---------------------------------------------------------------------------------------
def _settle(conn: Any, store: ConnectionStore, journal: TokenJournal, budget_s: float) -> tuple[Any, bool]:
    """Wait for a refresh in flight elsewhere, and write the answer of one that stopped before it could.

    Returns the connection as the store now holds it, and whether an answer was recovered.
    """
    conn_id = conn.conn_id
    try:
        entry = journal.read()
    except JournalError as exc:
        log.warning("%s; going on without it", exc)
        return conn, False
    if entry is None:
        return conn, False
    if entry.in_flight(journal.clock()):
        log.info("A refresh of %s is in flight (%s): waiting for it", conn_id, entry)
        while entry is not None and entry.in_flight(journal.clock()):
            journal.sleep(SETTLE_POLL_S)
            entry = journal.read()
        conn = store.read(conn_id)  # what that refresh wrote
        if entry is None:
            return conn, False
    stored = _checked_tokens(conn.extra_dejson, conn_id)
    answer = entry.tokens or {}
    if entry.state == ANSWERED and entry.replaces == fingerprint(stored.refresh_token):
        recovered = _checked_tokens(answer, conn_id)
        _mask_tokens(recovered, conn_id)
        log.warning(
            "Strava answered a refresh of %s (%s) that ended before writing the tokens: writing them to %s",
            conn_id,
            entry,
            store.description,
        )
        extra = _merged_extra(conn, recovered)
        _save(conn, extra, store, rotated=True, deadline=Deadline(budget_s), kept_in=journal.where)
        journal.clear(entry)
        return store.read(conn_id), True
    if entry.state == REFRESHING:
        log.warning(
            "A refresh of %s (%s) ended before Strava's answer was recorded; if Strava had answered, the "
            "refresh token it sent no longer works, and the next refresh says so",
            conn_id,
            entry,
        )
    elif answer.get("refresh_token") != stored.refresh_token:
        log.warning("Discarding a journal entry of %s that does not follow the stored refresh token", conn_id)
    journal.clear(entry)
    return conn, False


class _LazyStore:
    """The connection's store, found only when first needed (finding it may call a secrets backend)."""

    def __init__(self, factory: Callable[[str], ConnectionStore], conn_id: str) -> None:
        self._factory = factory
        self._conn_id = conn_id
        self._store: ConnectionStore | None = None

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            self._store = self._factory(self._conn_id)
        return getattr(self._store, name)


def _usable(tokens: StravaTokens, now: float, margin_s: float, refused_access_token: str | None) -> bool:
    if refused_access_token is None:
        return not tokens.needs_refresh(now, margin_s)
    other = tokens.access_token != refused_access_token
    return other and not tokens.needs_refresh(now, UNAUTHORIZED_MARGIN_S)


def ensure_fresh_tokens(
    conn: Any,
    store_factory: Callable[[str], ConnectionStore],
    *,
    journal: TokenJournal | None = None,
    now: Callable[[], float] = time.time,
    margin_s: float = REFRESH_MARGIN_S,
    session: requests.Session | None = None,
    refused_access_token: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    budget_s: float = TOKEN_BUDGET_S,
) -> tuple[StravaTokens, RefreshOutcome]:
    """Tokens good for use: the stored ones while they last, else refreshed and persisted (see above).

    :param conn: the connection as just read from where it lives.
    :param refused_access_token: the access token Strava just answered 401 to, if that is why.
    :param budget_s: the deadline of one refresh (store check, exchange, write-back), in seconds.
    """
    conn_id = conn.conn_id
    store = _LazyStore(store_factory, conn_id)
    recovered = False
    if journal is not None:
        conn, recovered = _settle(conn, store, journal, budget_s)
    tokens = tokens_from_extra(conn.extra_dejson, conn_id)
    if _usable(tokens, now(), margin_s, refused_access_token):
        log.info("Strava access token of %s is valid until %s: no refresh needed", conn_id, tokens.expires_at)
        stored_in = store.description if recovered else "unchanged"
        return tokens, RefreshOutcome(conn_id, False, recovered, tokens.expires_at, stored_in, recovered)
    try:
        new = refresh_and_persist(
            conn, tokens, store, journal=journal, session=session, deadline=Deadline(budget_s), sleep=sleep
        )
    except RefreshTokenRefused:
        # Another run may have rotated it since `conn` was read: the store and the journal say, within
        # moments (a refresh that won a race against this one writes its answer right after Strava's).
        pause = journal.sleep if journal is not None else time.sleep
        waited = 0.0
        while True:
            current = store.read(conn_id)
            if journal is not None:
                current, _ = _settle(current, store, journal, budget_s)
            newer = tokens_from_extra(current.extra_dejson, conn_id)
            if newer.refresh_token != tokens.refresh_token:
                break
            if waited >= REFUSAL_GRACE_S:
                raise  # nobody rotated it: it really is invalid or revoked
            pause(SETTLE_POLL_S)
            waited += SETTLE_POLL_S
        log.info("The refresh token of %s was rotated by another run; using that one", conn_id)
        if _usable(newer, now(), margin_s, refused_access_token):
            return newer, RefreshOutcome(conn_id, False, False, newer.expires_at, "unchanged", recovered)
        tokens = newer
        new = refresh_and_persist(
            current, newer, store, journal=journal, session=session, deadline=Deadline(budget_s), sleep=sleep
        )
    rotated = new.refresh_token != tokens.refresh_token
    return new, RefreshOutcome(conn_id, True, rotated, new.expires_at, store.description, recovered)
