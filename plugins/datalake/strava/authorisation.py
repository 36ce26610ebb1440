"""Whether the athlete still authorises the app: after a deauthorisation the pipeline calls Strava no more.

When a push event says the athlete revoked the app (``{"authorized": "false"}``), the run that received
it records that in the Airflow Variable :data:`DEAUTHORISED_VARIABLE`: when, and a fingerprint of the
refresh token the connection held then (the first 16 hex digits of its SHA-256; the token itself is
never stored or logged). Then it fails at once with :data:`datalake.strava.errors.REAUTHORISE_HELP`,
which alerts through the configured notifier.

Every later run checks the record in its first task, before any call to Strava
(:func:`check_authorised`): while the connection holds the same refresh token, nobody has re-authorised
(Strava revoked that token; a refresh would only be refused), so the run fails at once, naming the
day of the deauthorisation and how to re-authorise. Re-authorising ends with a new refresh token in the
connection (``REAUTHORISE_HELP``'s last step): its fingerprint differs, so the record is deleted and the
run goes on as usual. Nothing else needs to be reset. Deleting the Variable by hand resumes too.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from datalake.strava.errors import REAUTHORISE_HELP, StravaAuthorizationError

log = logging.getLogger(__name__)

DEAUTHORISED_VARIABLE = "datalake_strava_deauthorised"


class StravaDeauthorised(StravaAuthorizationError):
    """The athlete revoked the app: nothing can be read before a person re-authorises it."""


def fingerprint(refresh_token: str) -> str:
    """What identifies a refresh token without revealing it."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


def _when(event_time: int | None) -> str:
    if event_time is None:
        return "at an unknown time"
    return datetime.fromtimestamp(event_time, UTC).strftime("on %Y-%m-%d at %H:%M UTC")


def record_deauthorisation(conn_id: str, refresh_token: str, event_time: int | None, owner_id: int) -> None:
    """Record the deauthorisation and fail the run (the alert), without a call to Strava."""
    from airflow.sdk import Variable

    Variable.set(
        DEAUTHORISED_VARIABLE,
        {"conn_id": conn_id, "refresh_token": fingerprint(refresh_token), "event_time": event_time},
        serialize_json=True,
        description="The Strava athlete revoked the app (deleted once the connection holds a new token)",
    )
    raise StravaDeauthorised(
        f"Strava athlete {owner_id} revoked this app's access {_when(event_time)}: the pipeline calls Strava "
        f"no more until the connection {conn_id} holds a new refresh token. {REAUTHORISE_HELP}"
    )


def check_authorised(conn_id: str, refresh_token: str) -> None:
    """Fail at once while a recorded deauthorisation stands (the same refresh token); forget it once the
    connection holds another one (a person re-authorised)."""
    from airflow.sdk import Variable

    record: Any = Variable.get(DEAUTHORISED_VARIABLE, default=None, deserialize_json=True)
    if not isinstance(record, dict):
        return
    if record.get("refresh_token") != fingerprint(refresh_token):
        log.info("The Strava connection %s holds a new refresh token: re-authorised, resuming", conn_id)
        Variable.delete(DEAUTHORISED_VARIABLE)
        return
    raise StravaDeauthorised(
        f"The Strava athlete revoked this app's access {_when(record.get('event_time'))} and the "
        f"connection {conn_id} still holds the refresh token of before: no call to Strava until a person "
        f"re-authorises. {REAUTHORISE_HELP}"
    )
