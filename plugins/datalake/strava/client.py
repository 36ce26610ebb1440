"""The Strava API client: paging, rate limits, retries, one refresh on a 401.

- Paging: ``per_page=200`` and pages until an empty one (a short page is *not* the end).
- Rate limits: every answer's ``X-ReadRateLimit-*`` and ``X-RateLimit-*`` headers ("<15-min>,<daily>")
  are read. Near or over the 15-minute limit the client waits for the next quarter hour if that fits
  the time budget (and logs it), else raises :class:`StravaRateLimited` so a retry picks up. The daily
  limit raises :class:`StravaDailyLimitReached` (fails the run with a clear message).
- 5xx, timeouts and dropped connections are retried with exponential backoff and full jitter, by the
  package's one HTTP policy (:mod:`datalake.strava.http`).
- A 401 calls ``on_unauthorized`` with the refused access token (up to :data:`MAX_UNAUTHORIZED` times
  until a call succeeds again) and repeats the call with the token it returns (the hook's one refresh
  path: it re-reads the store first).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from datalake.strava.errors import (
    REAUTHORISE_HELP,
    StravaAuthorizationError,
    StravaDailyLimitReached,
    StravaError,
    StravaRateLimited,
)
from datalake.strava.http import TIMEOUT, Transient, json_body, raise_if_transient, retrying, send

log = logging.getLogger(__name__)

API_PATH = "/api/v3"
PER_PAGE = 200
QUARTER_HOUR_S = 900
# 401s in a row, each answered with another access token, before the refusal counts: a token another run
# just stored may die before this client used it once.
MAX_UNAUTHORIZED = 3
DAY_S = 86400


@dataclass
class RateLimits:
    """The latest usage and limits Strava reported (the tighter of read and overall counts)."""

    usage_15: int = 0
    limit_15: int | None = None
    usage_day: int = 0
    limit_day: int | None = None
    seen_at: float | None = None  # when Strava reported them (epoch seconds)

    def snapshot(self) -> dict[str, Any]:
        """What the next task needs to know (numbers only, nothing secret)."""
        return {
            "usage_15": self.usage_15,
            "limit_15": self.limit_15,
            "usage_day": self.usage_day,
            "limit_day": self.limit_day,
            "seen_at": self.seen_at,
        }

    @classmethod
    def restore(cls, state: Any, now: float) -> RateLimits:
        """The limits an earlier task saw, as far as they still hold at ``now``.

        Strava counts per quarter hour and per UTC day: the 15-minute usage carries over within the
        same quarter hour, the daily usage within the same day; anything else (or a malformed state)
        starts from nothing, as a first request would.
        """
        try:
            seen_at = float(state["seen_at"])
            limits = cls(
                limit_15=None if state["limit_15"] is None else int(state["limit_15"]),
                limit_day=None if state["limit_day"] is None else int(state["limit_day"]),
                seen_at=seen_at,
            )
            if seen_at // QUARTER_HOUR_S == now // QUARTER_HOUR_S:
                limits.usage_15 = int(state["usage_15"])
            if seen_at // DAY_S == now // DAY_S:
                limits.usage_day = int(state["usage_day"])
        except (KeyError, TypeError, ValueError):
            return cls()
        return limits

    @staticmethod
    def _pair(value: str | None) -> tuple[int, int] | None:
        if not value:
            return None
        try:
            a, b = (int(x.strip()) for x in value.split(",")[:2])
        except ValueError:
            return None
        return a, b

    def update(self, headers: Any, now: float | None = None) -> None:
        seen = False
        spare_15: float = math.inf
        spare_day: float = math.inf
        for kind in ("X-ReadRateLimit", "X-RateLimit"):
            limit, usage = self._pair(headers.get(f"{kind}-Limit")), self._pair(headers.get(f"{kind}-Usage"))
            if not limit or not usage:
                continue
            if not seen or limit[0] - usage[0] < spare_15:
                self.usage_15, self.limit_15 = usage[0], limit[0]
                spare_15 = limit[0] - usage[0]
            if not seen or limit[1] - usage[1] < spare_day:
                self.usage_day, self.limit_day = usage[1], limit[1]
                spare_day = limit[1] - usage[1]
            seen = True
        if seen:
            self.seen_at = now

    def daily_exhausted(self) -> bool:
        return self.limit_day is not None and self.usage_day >= self.limit_day

    def near_15(self, margin: int) -> bool:
        return self.limit_15 is not None and self.usage_15 >= self.limit_15 - margin


class StravaClient:
    """A small client of the Strava API v3 for one access token.

    :param deadline: ``clock()`` value after which the client must not wait for a rate-limit window
        (the task's time budget); ``None`` means it may always wait.
    :param on_unauthorized: called with the refused access token on a 401; returns a good one (any new
        one already persisted).
    :param conn_id: the connection the token belongs to, for error messages.
    """

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        on_unauthorized: Callable[[str], str] | None = None,
        conn_id: str = "(none)",
        session: requests.Session | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        attempts: int = 6,
        backoff_max_s: float = 60.0,
        rate_margin: int = 1,
    ) -> None:
        self.api_url = base_url.rstrip("/") + API_PATH
        self._access_token = access_token
        self.on_unauthorized = on_unauthorized
        self.conn_id = conn_id
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.deadline = deadline
        self.attempts = attempts
        self.backoff_max_s = backoff_max_s
        self.rate_margin = rate_margin
        self.limits = RateLimits()
        self.calls = 0
        self._unauthorized = 0  # 401s since the last answer that was not one

    def __repr__(self) -> str:
        return f"StravaClient({self.api_url!r}, calls={self.calls})"

    # -- rate limits --------------------------------------------------------------------------------
    def _wait_for_window(self, why: str) -> None:
        now = self.clock()
        resume = (math.floor(now / QUARTER_HOUR_S) + 1) * QUARTER_HOUR_S + 1
        wait = resume - now
        if self.deadline is not None and resume > self.deadline:
            raise StravaRateLimited(
                f"Strava's 15-minute rate limit is reached ({why}) and the next window opens in "
                f"{wait:.0f}s, beyond this task's time budget: stopping cleanly; a retry continues."
            )
        log.info(
            "Strava's 15-minute rate limit is reached (%s): waiting %.0fs for the next quarter hour",
            why,
            wait,
        )
        self.sleep(wait)
        self.limits.usage_15 = 0

    def _daily_stop(self) -> None:
        raise StravaDailyLimitReached(
            f"Strava's daily rate limit is used up ({self.limits.usage_day}/{self.limits.limit_day} "
            "requests); it resets at midnight UTC. The run stops here: clear it (or let the next "
            "run's backfill pick it up) after midnight UTC, or ask Strava for a higher limit."
        )

    # -- one request --------------------------------------------------------------------------------
    def _send(self, path: str, params: dict[str, Any] | None) -> requests.Response:
        what = f"Strava GET {path}"
        try:
            response = send(
                self.session,
                "GET",
                self.api_url + path,
                what=what,
                params=params,
                headers={"Authorization": f"Bearer {self._access_token}"},
                timeout=self.timeout,
            )
            self.limits.update(response.headers, self.clock())
            raise_if_transient(response, what)
        except Transient as exc:
            log.warning("%s, will retry", exc)
            raise
        finally:
            self.calls += 1
        return response

    def _send_with_backoff(self, path: str, params: dict[str, Any] | None) -> requests.Response:
        policy = retrying(attempts=self.attempts, wait_max=self.backoff_max_s, sleep=self.sleep)
        try:
            return policy(self._send, path, params)
        except Transient as exc:
            raise StravaError(f"Strava GET {path} kept failing, {self.attempts} attempts ({exc})") from None

    def get(self, path: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """GET ``/api/v3<path>`` and return the JSON body, minding limits, retries and one refresh
        (``missing_ok``: None for a 404)."""
        while True:
            if self.limits.daily_exhausted():
                self._daily_stop()
            if self.limits.near_15(self.rate_margin):
                self._wait_for_window(f"{self.limits.usage_15}/{self.limits.limit_15} requests used")
            response = self._send_with_backoff(path, params)
            if response.status_code == 429:
                if self.limits.daily_exhausted():
                    self._daily_stop()
                self._wait_for_window("HTTP 429")
                continue
            if response.status_code == 401:
                if self.on_unauthorized is None or self._unauthorized >= MAX_UNAUTHORIZED:
                    raise StravaAuthorizationError(
                        f"Strava refused the access token for GET {path} (HTTP 401) even after "
                        f"{self._unauthorized} new one(s): the app may lack the activity:read_all scope. "
                        f"{REAUTHORISE_HELP}"
                    )
                log.info("Strava answered 401: getting a good access token")
                self._unauthorized += 1
                self._access_token = self.on_unauthorized(self._access_token)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code >= 400:
                raise StravaError(
                    f"Strava GET {path} answered HTTP {response.status_code}: {response.text[:200]}"
                )
            self._unauthorized = 0  # a later 401 (the new token expiring too) may refresh again
            return json_body(
                response,
                endpoint=f"Strava GET {self.api_url}{path}",
                conn_id=self.conn_id,
                what_to_do="The connection's host must be Strava's API (https://www.strava.com), reached "
                "without a proxy or portal that answers in its place; a retry helps if Strava was down.",
            )

    # -- endpoints ----------------------------------------------------------------------------------
    def athlete(self) -> dict[str, Any]:
        return self.get("/athlete")

    def activity(self, activity_id: int) -> dict[str, Any] | None:
        """``/activities/{id}``; None when Strava has no such activity (deleted, or not visible)."""
        return self.get(f"/activities/{int(activity_id)}", missing_ok=True)

    def streams(self, activity_id: int, keys: list[str]) -> dict[str, Any] | None:
        """``/activities/{id}/streams`` of ``keys``, keyed by type; None when there is no such activity."""
        found = self.get(
            f"/activities/{int(activity_id)}/streams",
            {"keys": ",".join(keys), "key_by_type": "true"},
            missing_ok=True,
        )
        if found is not None and not isinstance(found, dict):
            raise StravaError(f"Strava's streams of activity {int(activity_id)} are not a JSON object")
        return found

    def gear(self, gear_id: str) -> dict[str, Any] | None:
        """``/gear/{id}``; None when Strava has no such gear (deleted, or another athlete's)."""
        return self.get(f"/gear/{gear_id}", missing_ok=True)

    def activity_pages(
        self, after: int, before: int, per_page: int = PER_PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``/athlete/activities`` with start time in (after, before), until an empty page."""
        page = 1
        while True:
            items = self.get(
                "/athlete/activities", {"after": after, "before": before, "page": page, "per_page": per_page}
            )
            if not isinstance(items, list):
                raise StravaError(f"Strava's activity list page {page} is not a JSON list")
            if not items:
                return
            yield items
            page += 1
