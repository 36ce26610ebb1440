"""What can go wrong with Strava, as exceptions that say what to do.

Exceptions derived from ``AirflowFailException`` fail the task at once (no retries: retrying cannot help
until a person acts). The others are transient and left to the task's retries.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

REAUTHORISE_HELP = (
    "Re-authorise the Strava app in a browser: open "
    "https://www.strava.com/oauth/authorize?client_id=<CLIENT_ID>&response_type=code"
    "&redirect_uri=http://localhost/exchange_token&approval_prompt=force&scope=read,activity:read_all , "
    "approve, exchange the returned code with POST https://www.strava.com/oauth/token "
    "(grant_type=authorization_code, client_id, client_secret, code), and put the refresh_token of the "
    "answer into the connection's 'Refresh token' field (see README, 'Strava connection')."
)


class StravaError(Exception):
    """A Strava call failed in a way a retry may fix."""


class StravaAuthorizationError(AirflowFailException):
    """The refresh token is invalid or revoked, or the app lacks the scope: a person must re-authorise."""


class RefreshTokenRefused(StravaAuthorizationError):
    """Strava refused the refresh token itself (its error names ``refresh_token``)."""


class ClientCredentialsRefused(AirflowFailException):
    """Strava refused the app's client id or secret: the connection's login or password is wrong."""


class StravaRateLimited(StravaError):
    """The 15-minute rate limit is reached and waiting would not fit the task's time budget."""


class StravaDailyLimitReached(AirflowFailException):
    """The daily rate limit is used up: nothing more can be read before midnight UTC."""


class UnexpectedAnswerError(StravaError):
    """A service answered something other than JSON (an HTML page from a proxy or a wrong host)."""


class ConnectionUrlError(AirflowFailException):
    """A connection's host is no usable URL: missing, not http(s), or plain http off this machine."""


class TokenPersistenceError(AirflowFailException):
    """A token could not be written back to where the connection lives, or the store cannot be written."""


class TokenWriteDeferred(StravaError):
    """Strava's new tokens are in the token journal but not yet in the store: the next try writes them."""


class StoreWriteError(Exception):
    """A store could not write a connection (the message is the reason and holds no secret)."""


class MaskedTokenError(AirflowFailException):
    """The connection holds a masked value ('***') or nothing where a token or the client secret should be."""


class StravaSchemaError(AirflowFailException):
    """An activity holds a field of the wrong type (the message names the activity id and field)."""
