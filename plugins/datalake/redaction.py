"""Secrets out of logs, XComs and alerts: registering them with Airflow's masker, and redacting text.

Two halves of one concern:

- :func:`mask` registers a value obtained at run time (a fresh Strava token, an Airflow API token) with
  Airflow's secrets masker, in the task process and its supervisor, before anything can log it. Airflow
  masks connection passwords and sensitive extras it reads itself, never what a task obtains later.
  A masker that cannot take the value raises :class:`MaskingError`: a task that goes on without it could
  write the token to its log.
- :func:`redact` and :func:`one_line` clean text that leaves the worker (alert messages): first through
  the masker (every registered value), then through patterns that hide anything shaped like a credential
  (bearer tokens, ``token=...``/``secret: ...`` pairs, credentials in URLs, long hex or base64 strings).
"""

from __future__ import annotations

import functools
import logging
import re

from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

ERROR_LIMIT = 1500

# (pattern, replacement), compiled on first use: every DAG file imports this module at parse time
_SECRET_PATTERNS = (
    # Authorization headers and bearer tokens
    (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", r"\1 ***"),
    # key=value / "key": "value" pairs whose key names a credential. The masker goes first, and a
    # registered value can be part of a key's name ("secret" of client_secret): a key with "***" in it
    # is taken for a credential's too
    (
        r"(?i)([\"']?(?<![\w*-])(?:[\w-]|\*\*\*)*"
        r"(?:token|secret|password|passwd|api[_-]?key|credential|authorization|\*\*\*)"
        r"(?:[\w-]|\*\*\*)*(?<!Error)(?<!Exception)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)",
        r"\1***",
    ),
    # credentials inside URLs: scheme://user:password@host
    (r"(://[^/\s:@]+:)[^@\s/]+@", r"\1***@"),
    # long opaque strings: Strava tokens are 40 hex characters; JWTs and keys are long base64
    (r"\b[0-9a-fA-F]{32,}\b", "***"),
    (r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{8,}\b", "***"),
    (r"(?<![\w/.-])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{40,}={0,2}", "***"),
)


class MaskingError(AirflowFailException):
    """Airflow's secrets masker refused a value: going on could write a secret to the log."""


def mask(value: str | None, *, what: str) -> None:
    """Register ``value`` with Airflow's secrets masker (task and supervisor); ``what`` names it in errors.

    Empty values are skipped (nothing to hide). Any failure raises :class:`MaskingError`.
    """
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception as exc:
        raise MaskingError(
            f"Could not register {what} with Airflow's secrets masker ({type(exc).__name__}), so it could "
            "reach the task log: stopping here. Check the worker's Airflow installation and logging setup."
        ) from None


@functools.cache
def _secret_patterns() -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), replacement) for pattern, replacement in _SECRET_PATTERNS]


def redact(text: str) -> str:
    """``text`` with every registered secret and anything shaped like a credential replaced by ``***``."""
    try:
        from airflow.sdk.log import redact as airflow_redact

        text = str(airflow_redact(text))
    except Exception:  # an alert must still go out: the patterns below still hide credentials
        log.warning("Airflow's secrets masker could not redact an alert; using the patterns only")
    for pattern, replacement in _secret_patterns():
        text = pattern.sub(replacement, text)
    return text


def one_line(error: object, limit: int = ERROR_LIMIT) -> str:
    """An exception (or any text) as one redacted line of at most ``limit`` characters."""
    if error is None:
        return "no error recorded (see the log)"
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    else:
        text = str(error)
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."
