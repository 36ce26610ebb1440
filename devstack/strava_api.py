"""Strava API stand-in for the embedded stack: a real HTTP server on 127.0.0.1.

It serves what the pipeline uses, as Strava documents it:

- ``POST /oauth/token``: the refresh grant (form body only), with Strava's token lifetime rules (the same
  access token comes back while it has more than an hour left) and refresh-token rotation (once a new
  refresh token is issued the old one answers 400 with Strava's error body).
- ``GET /api/v3/athlete/activities``: ``before``/``after`` (epoch seconds, strict, on ``start_date``),
  ``page`` (1-based) and ``per_page`` (default 30, more than 200 is a 400). Newest first, or oldest
  first when ``after`` is given (Strava's results "start with" the activities just after ``after``).
- ``GET /api/v3/athlete``: a small athlete, handy for a connection test.
- ``GET /api/v3/activities/{id}``: one activity's DetailedActivity (the listed summary with its
  description, calories, device, gear, laps, metric splits and best efforts:
  :mod:`devstack.strava_details`), ``/activities/{id}/streams`` (``keys``, ``key_by_type``) and
  ``/gear/{id}``; 404 when there is none.
- Every API response carries ``X-RateLimit-Limit``/``-Usage`` and ``X-ReadRateLimit-Limit``/``-Usage``
  as ``"<15-min>,<daily>"``; windows reset at :00/:15/:30/:45 and at midnight UTC (by ``clock``); past a
  limit the answer is 429 with a JSON body, and the refused request still counts. The token endpoint is
  not part of the API's budget (Strava's documented sync cost counts list calls only), unless
  ``count_token_requests=True``.

Faults for tests, switchable in-process or over HTTP (``POST /_standin/faults``): 5xx answers, slow
answers, dropped connections, HTML pages answered with 200 in place of the API (as a proxy, a captive
portal or a wrong host does), pages shorter than ``per_page`` before the end, preset usage, expired access
tokens, a revoked refresh token, and new tokens on every refresh (``rotate_every_refresh``: no reuse of
an access token with more than an hour left, so every refresh rotates the refresh token). Injected
faults happen "in front of" the API: they are recorded in :attr:`StravaStandIn.requests` but not counted
against the rate limits. ``GET /_standin/state`` reports
request counts and switches, never a secret. The stand-in is stricter than Strava in one place: token
requests carrying credentials in the query string are refused, so secrets never end up in URLs or logs.

History changes after the day, in-process or over HTTP (``POST /_standin/history``), as an athlete makes
them in Strava: late uploads (:meth:`StravaStandIn.upload`, a new id above every earlier one), edits
(:meth:`~StravaStandIn.edit`: a rename, a new sport type, privacy) and deletions
(:meth:`~StravaStandIn.delete`). The listing shows them from the next request on.

Push events, as Strava's webhooks send them: with a subscription (:meth:`StravaStandIn.subscribe`, or
``--events-queue-url`` for the process), a history document with ``"push": true`` also sends an event per
change (``create``, ``update`` with the fields Strava names, ``delete``), and ``"deauthorise": true``
revokes the refresh token and sends the athlete's ``{"authorized": "false"}``. The callback is the
webhook Lambda's own code (``include/strava_webhook/handler.py``, :func:`webhook_handler`), called with
the request API Gateway would hand it, so what reaches the queue is what the Lambda would put there.

Run it as a process for the stack::

    python -m devstack.strava_api --port 0 --state-file .stack/strava.json

It prints ``ready <base_url>`` on stdout once it accepts connections, writes the base URL and the
client's credentials to the state file (mode 0600, removed again on a clean stop), and stops on SIGTERM
or SIGINT. The state file holds the *initial* refresh token: with rotation on, whoever refreshes must
persist the new one, as with the real Strava.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import logging
import math
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from devstack import strava_details
from devstack.processes import announce_ready
from devstack.serving import ThreadedServer

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
API_PREFIX = "/api/v3"
ACTIVITIES_PATH = "/api/v3/athlete/activities"
ATHLETE_PATH = "/api/v3/athlete"
CONTROL_PREFIX = "/_standin"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 200
SAME_TOKEN_MIN_LEFT = 3600  # refreshing with more than this left returns the same access token
ATHLETE_ID = 31337042
_MAX_BODY = 1 << 20
_SENSITIVE = frozenset({"client_secret", "refresh_token", "access_token", "code", "client_id"})

HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>"
    "<body><p>Please sign in to use this network.</p></body></html>\n"
)

# Strava's error bodies.
REFRESH_TOKEN_INVALID = {
    "message": "Bad Request",
    "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}],
}
ACCESS_TOKEN_INVALID = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}
RATE_LIMIT_EXCEEDED = {
    "message": "Rate Limit Exceeded",
    "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
}


def _bad_request(resource: str, field: str, code: str) -> dict[str, Any]:
    return {"message": "Bad Request", "errors": [{"resource": resource, "field": field, "code": code}]}


class RecordedRequest(NamedTuple):
    """One call the stand-in answered (status 0: the connection was dropped). Secrets are redacted."""

    method: str
    path: str
    query: dict[str, str]
    status: int


class _Reply(NamedTuple):
    status: int
    body: Any
    headers: dict[str, str]


# ---------------------------------------------------------------------------------------------------------
# Seed data
# ---------------------------------------------------------------------------------------------------------


class _Sport(NamedTuple):
    sport_type: str
    legacy_type: str
    weight: int
    speed: tuple[float, float]  # m/s while moving; (0, 0): no distance
    duration: tuple[int, int]  # moving seconds
    climb: float  # metres of climbing per km
    outdoor: float  # probability of a GPS track
    gear: str | None  # gear id prefix: "g" shoes, "b" bikes


_SPORTS = (
    _Sport("Run", "Run", 30, (2.6, 3.9), (1500, 5400), 8.0, 0.9, "g"),
    _Sport("TrailRun", "Run", 5, (2.0, 3.0), (2400, 9000), 35.0, 1.0, "g"),
    _Sport("Ride", "Ride", 18, (5.5, 9.0), (2400, 14400), 10.0, 1.0, "b"),
    _Sport("GravelRide", "Ride", 4, (4.5, 7.0), (3600, 12600), 12.0, 1.0, "b"),
    _Sport("MountainBikeRide", "Ride", 3, (3.5, 5.5), (3000, 9000), 25.0, 1.0, "b"),
    _Sport("VirtualRide", "VirtualRide", 8, (7.0, 10.0), (1800, 5400), 9.0, 0.0, "b"),
    _Sport("Walk", "Walk", 12, (1.2, 1.6), (1200, 5400), 6.0, 1.0, None),
    _Sport("Hike", "Hike", 6, (0.9, 1.4), (5400, 21600), 60.0, 1.0, "g"),
    _Sport("Swim", "Swim", 6, (0.8, 1.2), (1200, 3600), 0.0, 0.2, None),
    _Sport("WeightTraining", "WeightTraining", 4, (0.0, 0.0), (1800, 4200), 0.0, 0.0, None),
    _Sport("Yoga", "Yoga", 2, (0.0, 0.0), (1800, 4500), 0.0, 0.0, None),
)
_RIDES = frozenset({"Ride", "GravelRide", "MountainBikeRide", "VirtualRide"})
_RUNS = frozenset({"Run", "TrailRun"})
# (timezone, home coordinates, weight): mostly at home, sometimes travelling
_PLACES = (
    ("Europe/London", (51.4613, -0.1156), 80),
    ("Europe/Paris", (48.8462, 2.3371), 10),
    ("America/Denver", (40.0150, -105.2705), 7),
    ("Australia/Sydney", (-33.8915, 151.2767), 3),
)
_COUNTRIES = {
    "Europe/London": "United Kingdom",
    "Europe/Paris": "France",
    "America/Denver": "United States",
    "Australia/Sydney": "Australia",
}
_CUSTOM_NAMES = {
    "Run": ["parkrun", "Intervals 6x800m", "Tempo run", "Easy shakeout", "Long run with the club"],
    "TrailRun": ["Hill repeats", "Trail loop"],
    "Ride": ["Coffee ride", "Club ride", "Chaingang", "Commute home"],
    "VirtualRide": ["Zwift - Watopia Figure 8", "Zwift - Tempus Fugit", "Zwift - Road to Sky"],
    "Swim": ["Pool session", "Open water swim"],
    "Hike": ["Ridge walk", "Summit day"],
    "WeightTraining": ["Gym", "Strength & conditioning"],
}


def _format_offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, rem = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rem // 60:02d}"


def _encode_polyline(points: list[tuple[float, float]]) -> str:
    """Google's encoded polyline algorithm (what Strava's ``summary_polyline`` holds)."""
    out: list[str] = []
    prev_lat = prev_lng = 0
    for lat, lng in points:
        ilat, ilng = round(lat * 1e5), round(lng * 1e5)
        for delta in (ilat - prev_lat, ilng - prev_lng):
            value = ~(delta << 1) if delta < 0 else delta << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        prev_lat, prev_lng = ilat, ilng
    return "".join(out)


def _track(
    rng: random.Random, start: tuple[float, float], km: float, loop: bool
) -> list[tuple[float, float]]:
    steps = 16
    heading = rng.uniform(0, 2 * math.pi)
    step = km / steps / 111.0  # degrees of latitude per step
    lat, lng = start
    points = [start]
    for i in range(1, steps + 1):
        if loop and i == steps // 2:
            heading += math.pi
        heading += rng.uniform(-0.5, 0.5)
        lat += step * math.cos(heading)
        lng += step * math.sin(heading) / max(0.2, math.cos(math.radians(lat)))
        points.append((round(lat, 6), round(lng, 6)))
    if loop:
        points[-1] = (
            round(start[0] + rng.uniform(-2e-4, 2e-4), 6),
            round(start[1] + rng.uniform(-2e-4, 2e-4), 6),
        )
    return points


def _default_name(rng: random.Random, sport: _Sport, local_hour: int) -> str:
    if sport.sport_type in _CUSTOM_NAMES and rng.random() < 0.25:
        return rng.choice(_CUSTOM_NAMES[sport.sport_type])
    part = (
        "Night"
        if local_hour < 5 or local_hour >= 21
        else "Morning"
        if local_hour < 12
        else "Lunch"
        if local_hour < 14
        else "Afternoon"
        if local_hour < 18
        else "Evening"
    )
    label = {"TrailRun": "Trail Run", "GravelRide": "Gravel Ride", "MountainBikeRide": "Mountain Bike Ride"}
    return (
        f"{part} {label.get(sport.sport_type, sport.sport_type.replace('WeightTraining', 'Weight Training'))}"
    )


def seed_activities(
    n: int = 300, *, seed: int = 7, end: datetime | None = None, days: int = 365
) -> list[dict[str, Any]]:
    """``n`` realistic SummaryActivity dicts, oldest first, started over the ``days`` before ``end``.

    Deterministic for a given ``seed`` and ``end`` (default: now, UTC). Optional fields are absent when
    Strava would leave them out: heart rate without a sensor, power for rides without a meter (or an
    estimate with ``device_watts`` false), coordinates for indoor and manual activities.
    """
    if n < 0 or days < 1:
        raise ValueError(f"seed_activities needs n >= 0 and days >= 1, got n={n}, days={days}")
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(f"strava-stand-in/{seed}")
    weights = [s.weight for s in _SPORTS]
    starts: list[tuple[datetime, _Sport, str, tuple[float, float]]] = []
    for _ in range(n):
        sport = rng.choices(_SPORTS, weights)[0]
        tz_name, home, _w = rng.choices(_PLACES, [p[2] for p in _PLACES])[0]
        tz = ZoneInfo(tz_name)
        day = (end - timedelta(days=rng.randrange(days))).astimezone(tz).date()
        weekend = day.weekday() >= 5
        hour = rng.choice([8, 9, 10, 11, 14, 16] if weekend else [6, 6, 7, 7, 12, 17, 18, 19, 20])
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=tz)
        start = local.astimezone(UTC)
        if start >= end:
            start -= timedelta(days=1)
        starts.append((start, sport, tz_name, home))
    starts.sort(key=lambda s: s[0])

    activities: list[dict[str, Any]] = []
    activity_id = 9_800_000_000 + rng.randrange(1_000_000)
    upload_id = 10_500_000_000 + rng.randrange(1_000_000)
    for start, sport, tz_name, home in starts:
        activity_id += rng.randrange(20_000, 400_000)
        upload_id += rng.randrange(20_000, 400_000)
        tz = ZoneInfo(tz_name)
        local = start.astimezone(tz)
        offset = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
        standard = offset - int((local.dst() or timedelta()).total_seconds())
        manual = rng.random() < 0.03
        treadmill = sport.sport_type == "Run" and rng.random() < 0.1
        trainer = (
            sport.sport_type == "VirtualRide"
            or treadmill
            or (sport.sport_type == "Ride" and rng.random() < 0.05)
        )
        gps = not manual and not trainer and rng.random() < sport.outdoor
        moving = rng.randrange(*sport.duration)
        elapsed = moving if manual else moving + rng.randrange(0, max(60, moving // 5))
        speed = rng.uniform(*sport.speed)
        distance = round(speed * moving, 1)
        climb = (
            round(distance / 1000 * sport.climb * rng.uniform(0.3, 1.6), 1)
            if sport.sport_type != "Swim"
            else 0.0
        )
        commute = sport.sport_type in {"Ride", "Walk"} and local.weekday() < 5 and rng.random() < 0.2
        private = rng.random() < 0.08
        has_hr = not manual and sport.sport_type not in {"Yoga"} and rng.random() < 0.75
        start_latlng: list[float] = []
        end_latlng: list[float] = []
        polyline = ""
        if gps:
            origin = (
                round(home[0] + rng.uniform(-0.05, 0.05), 6),
                round(home[1] + rng.uniform(-0.05, 0.05), 6),
            )
            points = _track(rng, origin, max(0.3, distance / 1000), loop=not commute)
            start_latlng, end_latlng = list(points[0]), list(points[-1])
            polyline = _encode_polyline(points)
        activity: dict[str, Any] = {
            "resource_state": 2,
            "athlete": {"id": ATHLETE_ID, "resource_state": 1},
            "name": _default_name(rng, sport, local.hour),
            "distance": distance,
            "moving_time": moving,
            "elapsed_time": elapsed,
            "total_elevation_gain": climb,
            "type": sport.legacy_type,
            "sport_type": sport.sport_type,
            "workout_type": (
                rng.choice([0, 0, 0, None, 1, 2, 3])
                if sport.sport_type in _RUNS
                else rng.choice([10, 10, None, 11, 12])
                if sport.sport_type in _RIDES
                else None
            ),
            "id": activity_id,
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start_date_local": local.strftime("%Y-%m-%dT%H:%M:%SZ"),  # Strava's quirk: local time, "Z"
            "timezone": f"(GMT{_format_offset(standard)}) {tz_name}",
            "utc_offset": float(offset),
            "location_city": None,
            "location_state": None,
            "location_country": _COUNTRIES[tz_name],
            "achievement_count": rng.choice([0, 0, 0, 1, 2, 5]) if not manual else 0,
            "kudos_count": 0 if private else rng.randrange(0, 25),
            "comment_count": 0 if private else rng.choice([0, 0, 0, 1, 2]),
            "athlete_count": rng.choice([1, 1, 1, 1, 2, 3, 8]) if gps else 1,
            "photo_count": 0,
            "map": {"id": f"a{activity_id}", "summary_polyline": polyline, "resource_state": 2},
            "trainer": trainer,
            "commute": commute,
            "manual": manual,
            "private": private,
            "visibility": "only_me" if private else rng.choice(["everyone", "everyone", "followers_only"]),
            "flagged": False,
            "gear_id": f"{sport.gear}{rng.choice([4021337, 5560112, 7718803])}" if sport.gear else None,
            "start_latlng": start_latlng,
            "end_latlng": end_latlng,
            "average_speed": round(distance / moving, 3) if moving else 0.0,
            "max_speed": round(distance / moving * rng.uniform(1.2, 2.2), 3) if distance else 0.0,
            "has_heartrate": has_hr,
            "heartrate_opt_out": False,
            "display_hide_heartrate_option": has_hr,
            "upload_id": None if manual else upload_id,
            "upload_id_str": None if manual else str(upload_id),
            "external_id": (
                None
                if manual
                else rng.choice([f"garmin_ping_{upload_id // 7}", f"{activity_id}.fit", f"zwift-{upload_id}"])
                if sport.sport_type == "VirtualRide"
                else rng.choice([f"garmin_ping_{upload_id // 7}", f"{activity_id}.fit"])
            ),
            "from_accepted_tag": False,
            "pr_count": rng.choice([0, 0, 0, 0, 1, 2]) if sport.sport_type in _RUNS and gps else 0,
            "total_photo_count": rng.choice([0, 0, 0, 0, 1, 3]) if gps else 0,
            "has_kudoed": False,
        }
        if sport.sport_type in _RUNS | _RIDES and not manual and rng.random() < 0.8:
            activity["average_cadence"] = round(
                rng.uniform(80, 92) if sport.sport_type in _RUNS else rng.uniform(75, 95), 1
            )
        if sport.sport_type in _RIDES and not manual:
            power_meter = sport.sport_type == "VirtualRide" or rng.random() < 0.4
            if power_meter or rng.random() < 0.5:  # without a meter Strava sometimes estimates power
                watts = round(rng.uniform(140, 260), 1)
                activity["average_watts"] = watts
                activity["kilojoules"] = round(watts * moving / 1000, 1)
                activity["device_watts"] = power_meter
                if power_meter:
                    activity["max_watts"] = int(watts * rng.uniform(2.5, 4.5))
                    activity["weighted_average_watts"] = int(watts * rng.uniform(1.02, 1.15))
        if has_hr:
            average_hr = round(rng.uniform(110, 165), 1)
            activity["average_heartrate"] = average_hr
            activity["max_heartrate"] = float(min(200, int(average_hr + rng.uniform(12, 35))))
            activity["suffer_score"] = float(int(moving / 60 * (average_hr - 90) / 40))
        if gps or sport.sport_type == "VirtualRide":
            low = round(rng.uniform(5, 60) if tz_name != "America/Denver" else rng.uniform(1600, 1700), 1)
            activity["elev_low"] = low
            activity["elev_high"] = round(low + climb * rng.uniform(0.2, 0.6), 1)
        activities.append(activity)
    return activities


# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


class _ActivityIndex(NamedTuple):
    """Positions in :attr:`StravaStandIn.activities` in both listing orders, with their start epochs.

    Ties on (start, id) keep list order in both orders, as a stable sort of the whole list does.
    """

    source: list[dict[str, Any]]  # the list indexed (its identity and length tell a stale index)
    size: int
    oldest_first: list[int]
    oldest_first_epochs: list[int]
    newest_first: list[int]
    newest_first_negated_epochs: list[int]  # ascending, so ``bisect`` works on it


def _index_activities(activities: list[dict[str, Any]]) -> _ActivityIndex:
    keys = [(_epoch(a["start_date"]), a["id"]) for a in activities]
    oldest = sorted(range(len(keys)), key=keys.__getitem__)
    newest = sorted(range(len(keys)), key=keys.__getitem__, reverse=True)
    return _ActivityIndex(
        activities,
        len(activities),
        oldest,
        [keys[i][0] for i in oldest],
        newest,
        [-keys[i][0] for i in newest],
    )


def _short_page_size(page: int, per_page: int) -> int:
    """Page sizes in short-page mode: a repeating pattern with pages shorter than ``per_page``."""
    pattern = (per_page - 1, per_page, per_page // 2, per_page - 3)
    return max(1, pattern[(page - 1) % len(pattern)])


WEBHOOK_HANDLER = Path(__file__).resolve().parents[1] / "include" / "strava_webhook" / "handler.py"
# What an update event's ``updates`` names, for the fields a history edit changes (Strava sends these).
_UPDATE_FIELDS = {"name": "title", "type": "type", "sport_type": "type", "private": "private"}


def webhook_handler() -> ModuleType:
    """The webhook Lambda's module, loaded from its file (it is deployed alone, not as a package)."""
    spec = spec_from_file_location("strava_webhook_handler", WEBHOOK_HANDLER)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the webhook handler {WEBHOOK_HANDLER}")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gear_distance(activities: list[dict[str, Any]], gear_id: str | None) -> float | None:
    if not gear_id:
        return None
    return round(sum(float(a["distance"]) for a in activities if a.get("gear_id") == gear_id), 1)


def _streams_answer(activity: dict[str, Any], query: dict[str, str]) -> Any:
    """``/activities/{id}/streams``: keyed by type with ``key_by_type=true``, else a list (Strava's two
    shapes)."""
    keys = [k.strip() for k in (query.get("keys") or "time,distance").split(",") if k.strip()]
    streams = strava_details.activity_streams(activity, keys)
    if (query.get("key_by_type") or "").lower() == "true":
        return streams
    return [{"type": key, **stream} for key, stream in streams.items()]


def _redact(query: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in _SENSITIVE else v) for k, v in query.items()}


class StravaStandIn(ThreadedServer):
    """The Strava API stand-in, served from threads of the current process.

    >>> with StravaStandIn(seed_activities(50)) as strava:  # doctest: +SKIP
    ...     requests.post(f"{strava.base_url}/oauth/token", data={...}, timeout=10)
    """

    thread_name = "strava-stand-in"
    poll_interval = 0.05

    def __init__(
        self,
        activities: list[dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rotate_refresh_tokens: bool = True,
        rotate_every_refresh: bool = False,
        access_token_ttl: int = 21600,
        read_limit_15min: int = 100,
        read_limit_daily: int = 1000,
        overall_limit_15min: int = 200,
        overall_limit_daily: int = 2000,
        clock: Callable[[], float] = time.time,
        count_token_requests: bool = False,
    ) -> None:
        self._activities: list[dict[str, Any]] = seed_activities() if activities is None else activities
        self._index: _ActivityIndex | None = None
        self.host = host
        self.port = port
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.rotate_every_refresh = rotate_every_refresh
        self.access_token_ttl = access_token_ttl
        self.read_limit = (read_limit_15min, read_limit_daily)
        self.overall_limit = (overall_limit_15min, overall_limit_daily)
        self.count_token_requests = count_token_requests
        self.clock = clock
        self.client_id = str(secrets.randbelow(900_000) + 100_000)
        self.client_secret = secrets.token_hex(20)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._refresh_token = secrets.token_hex(20)
        self._access: dict[str, float] = {}  # access token -> expires_at
        self._current_access: str | None = None
        self._fail = [0, 500]
        self._slow: list[float] = [0, 0.0]
        self._drop = 0
        self._html = 0
        self._short_pages = False
        self._windows = (-1, -1)  # (15-min window index, day index)
        self._read_usage = [0, 0]
        self._overall_usage = [0, 0]
        self._webhook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.pushed: list[tuple[dict[str, Any], int]] = []  # every event sent, with the callback's status

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.url

    def build_server(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        return server

    def start(self) -> str:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        super().stop()

    def __repr__(self) -> str:  # never the secrets
        where = self.base_url if self._server is not None else "stopped"
        return f"<StravaStandIn {where} activities={len(self.activities)}>"

    # -- activities ------------------------------------------------------------------------------------
    @property
    def activities(self) -> list[dict[str, Any]]:
        """The activities served (the list given, not a copy).

        Listing uses an index sorted by start time, rebuilt when this list is replaced or its length
        changes. Edits in place that keep the length and touch ``start_date`` or ``id`` (or reorder or
        replace items) need :meth:`activities_changed`; other fields are read live.
        """
        return self._activities

    @activities.setter
    def activities(self, activities: list[dict[str, Any]]) -> None:
        with self._lock:
            self._activities = activities
            self._index = None

    def activities_changed(self) -> None:
        """Rebuild the listing index on the next request (after editing activities in place)."""
        with self._lock:
            self._index = None

    # -- history changes -------------------------------------------------------------------------------
    def upload(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Add ``activity`` (a SummaryActivity with a ``start_date``), as a late upload or a manual entry
        adds it: with a new id, above every id so far (Strava's ids grow with upload time), unless it
        brings an id of its own that no activity has. Returns the activity as served."""
        if not isinstance(activity, dict) or not isinstance(activity.get("start_date"), str):
            raise ValueError("an upload must be an activity object with a start_date")
        with self._lock:
            added = dict(activity)
            taken = {a["id"] for a in self._activities}
            if "id" not in added:
                added["id"] = max(taken, default=9_800_000_000) + 1
            elif added["id"] in taken:
                raise ValueError(f"an activity with id {added['id']} exists already")
            _epoch(added["start_date"])  # a start date the listing can sort by, or a ValueError here
            self._activities.append(added)
            self._index = None
            return added

    def _find(self, activity_id: int) -> int:
        for position, activity in enumerate(self._activities):
            if activity["id"] == activity_id:
                return position
        raise KeyError(f"no activity with id {activity_id}")

    def edit(self, activity_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields of the activity ``activity_id`` (its id stays); returns it as served."""
        if "id" in fields:
            raise ValueError("an edit cannot change an activity's id")
        with self._lock:
            activity = self._activities[self._find(activity_id)]
            if "start_date" in fields:
                _epoch(fields["start_date"])
            activity.update(fields)
            self._index = None
            return activity

    def delete(self, activity_id: int) -> None:
        """Delete the activity ``activity_id``: the listing no longer shows it."""
        with self._lock:
            del self._activities[self._find(activity_id)]
            self._index = None

    # -- push events -----------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[dict[str, Any]], dict[str, Any]], verify_token: str) -> None:
        """Subscribe ``callback`` (a Lambda handler's call: request in, response out) as Strava's
        ``POST /push_subscriptions`` does: first the GET challenge, which it must echo."""
        challenge = secrets.token_hex(8)
        answer = callback(
            {
                "requestContext": {"http": {"method": "GET"}},
                "queryStringParameters": {
                    "hub.mode": "subscribe",
                    "hub.verify_token": verify_token,
                    "hub.challenge": challenge,
                },
            }
        )
        echoed = json.loads(answer.get("body") or "{}").get("hub.challenge")
        if answer.get("statusCode") != 200 or echoed != challenge:
            raise ValueError(
                f"the callback did not answer the subscription challenge (HTTP {answer.get('statusCode')})"
            )
        self._webhook = callback

    def push(
        self, object_type: str, aspect_type: str, object_id: int, updates: dict[str, Any] | None = None
    ) -> int:
        """Send one event to the subscription, as Strava POSTs it (up to 3 tries); the last status."""
        if self._webhook is None:
            raise ValueError("no push subscription: subscribe a callback first (--events-queue-url)")
        event = {
            "aspect_type": aspect_type,
            "event_time": int(self.clock()),
            "object_id": object_id,
            "object_type": object_type,
            "owner_id": ATHLETE_ID,
            "subscription_id": 1,
            "updates": updates or {},
        }
        status = 0
        for _ in range(3):
            status = int(
                self._webhook({"requestContext": {"http": {"method": "POST"}}, "body": json.dumps(event)})[
                    "statusCode"
                ]
            )
            if status == 200:
                break
        self.pushed.append((event, status))
        return status

    def _activity_index(self) -> _ActivityIndex:
        with self._lock:
            index = self._index
            if index is None or index.source is not self._activities or index.size != len(index.source):
                index = self._index = _index_activities(self._activities)
            return index

    # -- tokens ----------------------------------------------------------------------------------------
    @property
    def refresh_token(self) -> str:
        """The refresh token that is valid right now."""
        return self._refresh_token

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 from now on."""
        with self._lock:
            self._access.clear()
            self._current_access = None

    def revoke_refresh_token(self) -> None:
        """The current refresh token stops working (400), as if the athlete revoked the app.

        A new one (:attr:`refresh_token`) stands for the athlete authorising the app again.
        """
        with self._lock:
            self._refresh_token = secrets.token_hex(20)
            self._access.clear()
            self._current_access = None

    # -- faults ----------------------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` (a JSON error body) without reaching the API."""
        if n < 0 or not 400 <= status <= 599:
            raise ValueError(f"fail_next needs n >= 0 and a 4xx/5xx status, got n={n}, status={status}")
        with self._lock:
            self._fail = [n, status]

    def slow_next(self, n: int, seconds: float) -> None:
        """The next ``n`` requests wait ``seconds`` before they are answered."""
        if n < 0 or seconds < 0:
            raise ValueError(f"slow_next needs n >= 0 and seconds >= 0, got n={n}, seconds={seconds}")
        with self._lock:
            self._slow = [n, float(seconds)]

    def drop_next(self, n: int) -> None:
        """The next ``n`` requests get no answer: the connection is closed."""
        if n < 0:
            raise ValueError(f"drop_next needs n >= 0, got {n}")
        with self._lock:
            self._drop = n

    def html_next(self, n: int) -> None:
        """The next ``n`` requests answer 200 with an HTML page instead of the API's JSON."""
        if n < 0:
            raise ValueError(f"html_next needs n >= 0, got {n}")
        with self._lock:
            self._html = n

    def set_rotate_every_refresh(self, on: bool) -> None:
        """Every refresh issues a new access token (and, with rotation, a new refresh token)."""
        with self._lock:
            self.rotate_every_refresh = bool(on)

    def set_short_pages(self, on: bool) -> None:
        """Activity pages come back shorter than ``per_page`` before the end (nothing is lost)."""
        with self._lock:
            self._short_pages = bool(on)

    def set_usage(
        self,
        read_15min: int | None = None,
        read_daily: int | None = None,
        *,
        overall_15min: int | None = None,
        overall_daily: int | None = None,
    ) -> None:
        """Preset the usage of the current windows (overall usage is raised to at least the read usage)."""
        with self._lock:
            self._roll_windows()
            for i, value in enumerate((read_15min, read_daily)):
                if value is not None:
                    self._read_usage[i] = int(value)
                    self._overall_usage[i] = max(self._overall_usage[i], int(value))
            for i, value in enumerate((overall_15min, overall_daily)):
                if value is not None:
                    self._overall_usage[i] = int(value)

    def state(self) -> dict[str, Any]:
        """Counts and switches for the control API and for logs; never a secret."""
        with self._lock:
            by_path = Counter(r.path for r in self.requests)
            by_status = Counter(str(r.status) for r in self.requests)
            self._roll_windows()
            return {
                "requests": {
                    "total": len(self.requests),
                    "by_path": dict(by_path),
                    "by_status": dict(by_status),
                    "recent": [r._asdict() for r in self.requests[-50:]],
                },
                "faults": {
                    "fail_next": list(self._fail),
                    "slow_next": list(self._slow),
                    "drop_next": self._drop,
                    "html_next": self._html,
                    "short_pages": self._short_pages,
                },
                "usage": {
                    "read_15min": self._read_usage[0],
                    "read_daily": self._read_usage[1],
                    "overall_15min": self._overall_usage[0],
                    "overall_daily": self._overall_usage[1],
                },
                "limits": {"read": list(self.read_limit), "overall": list(self.overall_limit)},
                "rotate_refresh_tokens": self.rotate_refresh_tokens,
                "rotate_every_refresh": self.rotate_every_refresh,
                "activities": len(self.activities),
            }

    # -- request handling (called from the HTTP handler threads) --------------------------------------
    def _roll_windows(self) -> None:
        now = self.clock()
        quarter, day = int(now // 900), int(now // 86400)
        if quarter != self._windows[0]:
            self._read_usage[0] = self._overall_usage[0] = 0
        if day != self._windows[1]:
            self._read_usage[1] = self._overall_usage[1] = 0
        self._windows = (quarter, day)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "{},{}".format(*self.overall_limit),
            "X-RateLimit-Usage": "{},{}".format(*self._overall_usage),
            "X-ReadRateLimit-Limit": "{},{}".format(*self.read_limit),
            "X-ReadRateLimit-Usage": "{},{}".format(*self._read_usage),
        }

    def _count(self) -> bool:
        """Count one request against every window; True when it is over a limit."""
        self._roll_windows()
        for i in range(2):
            self._read_usage[i] += 1
            self._overall_usage[i] += 1
        return any(u > lim for u, lim in zip(self._read_usage, self.read_limit, strict=True)) or any(
            u > lim for u, lim in zip(self._overall_usage, self.overall_limit, strict=True)
        )

    def _take_faults(self) -> tuple[float, bool, int | None, bool]:
        with self._lock:
            delay = 0.0
            if self._slow[0] > 0:
                self._slow[0] -= 1
                delay = self._slow[1]
            drop = self._drop > 0
            if drop:
                self._drop -= 1
            fail = None
            if not drop and self._fail[0] > 0:
                self._fail[0] -= 1
                fail = int(self._fail[1])
            html = not drop and fail is None and self._html > 0
            if html:
                self._html -= 1
            return delay, drop, fail, html

    def _serve(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply | None:
        """Answer one non-control request; None means: drop the connection."""
        delay, drop, fail, html = self._take_faults()
        if delay:
            self._stopping.wait(delay)
        if drop:
            self._record(method, path, query, 0)
            return None
        with self._lock:
            counted = path.startswith(API_PREFIX) or (path == TOKEN_PATH and self.count_token_requests)
            if fail is not None:
                self._roll_windows()
                reply = _Reply(fail, {"message": "Injected fault", "errors": []}, {})
            elif html:
                reply = _Reply(200, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
            elif counted and self._count():
                # checked on arrival: an over-limit request is refused, and still counted
                reply = _Reply(429, RATE_LIMIT_EXCEEDED, {})
            elif path == TOKEN_PATH:
                reply = self._token(method, query, headers, body)
            elif path.startswith(API_PREFIX):
                reply = self._api(method, path, query, headers)
            else:
                reply = _Reply(404, {"message": "Record Not Found", "errors": []}, {})
            if counted:
                reply.headers.update(self._rate_headers())
            self._record(method, path, query, reply.status)
            return reply

    def _record(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, _redact(query), status))

    def _token(self, method: str, query: dict[str, str], headers: Any, body: bytes) -> _Reply:
        if method != "POST":
            return _Reply(405, {"message": "Method Not Allowed", "errors": []}, {"Allow": "POST"})
        leaked = sorted(_SENSITIVE & query.keys())
        if leaked:
            return _Reply(400, _bad_request("Application", leaked[0], "not_allowed_in_query_string"), {})
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _Reply(400, _bad_request("Application", "body", "form_encoded_body_required"), {})
        form = {
            k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        if form.get("client_id") != self.client_id:
            return _Reply(400, _bad_request("Application", "client_id", "invalid"), {})
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _Reply(
                401,
                {
                    "message": "Authorization Error",
                    "errors": [{"resource": "Application", "field": "client_secret", "code": "invalid"}],
                },
                {},
            )
        if form.get("grant_type") != "refresh_token":
            return _Reply(400, _bad_request("Application", "grant_type", "invalid"), {})
        if not secrets.compare_digest(form.get("refresh_token", ""), self._refresh_token):
            return _Reply(400, REFRESH_TOKEN_INVALID, {})
        now = self.clock()
        current = self._current_access
        left = self._access.get(current, 0) - now if current is not None else 0
        if self.rotate_every_refresh or left <= SAME_TOKEN_MIN_LEFT:
            current = secrets.token_hex(20)
            self._access[current] = math.floor(now) + self.access_token_ttl
            self._current_access = current
            if self.rotate_refresh_tokens:
                self._refresh_token = secrets.token_hex(20)
        expires_at = int(self._access[current])
        return _Reply(
            200,
            {
                "token_type": "Bearer",
                "access_token": current,
                "expires_at": expires_at,
                "expires_in": max(0, expires_at - math.floor(now)),
                "refresh_token": self._refresh_token,
            },
            {},
        )

    def _authorised(self, headers: Any) -> bool:
        auth = headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        expires_at = self._access.get(token.strip())
        return expires_at is not None and expires_at > self.clock()

    def _api(self, method: str, path: str, query: dict[str, str], headers: Any) -> _Reply:
        if method != "GET":
            return _Reply(405, {"message": "Method Not Allowed", "errors": []}, {"Allow": "GET"})
        if not self._authorised(headers):
            return _Reply(401, ACCESS_TOKEN_INVALID, {})
        if path == ATHLETE_PATH:
            return _Reply(200, _ATHLETE, {})
        if path == ACTIVITIES_PATH:
            return self._list_activities(query)
        activities = self._activity_index().source
        answer: Any = None
        rest = path.removeprefix(f"{API_PREFIX}/activities/")
        one, _, sub = rest.partition("/")
        if rest != path and one.isdigit() and sub in ("", "streams"):
            found = next((a for a in activities if a["id"] == int(one)), None)
            if found is not None and sub == "streams":
                answer = _streams_answer(found, query)
            elif found is not None:
                answer = strava_details.detailed_activity(
                    found, gear_distance=_gear_distance(activities, found.get("gear_id"))
                )
        gear_id = path.removeprefix(f"{API_PREFIX}/gear/")
        if gear_id != path and gear_id:
            answer = strava_details.gear(gear_id, activities)
        if answer is not None:
            return _Reply(200, answer, {})
        return _Reply(
            404,
            {
                "message": "Record Not Found",
                "errors": [{"resource": "resource", "field": "path", "code": "invalid"}],
            },
            {},
        )

    def _list_activities(self, query: dict[str, str]) -> _Reply:
        params: dict[str, int | None] = {}
        for name, default in (("before", None), ("after", None), ("page", 1), ("per_page", DEFAULT_PER_PAGE)):
            raw = query.get(name)
            try:
                params[name] = default if raw in (None, "") else int(raw)  # type: ignore[arg-type]
            except ValueError:
                return _Reply(400, _bad_request("Application", name, "invalid"), {})
        before, after = params["before"], params["after"]
        page, per_page = int(params["page"] or 1), int(params["per_page"] or DEFAULT_PER_PAGE)
        if after is not None and after > self.clock():
            return _Reply(400, _bad_request("Application", "after", "future"), {})
        if not 1 <= per_page <= MAX_PER_PAGE:
            return _Reply(400, _bad_request("Application", "per_page", "invalid"), {})
        if page < 1:
            return _Reply(400, _bad_request("Application", "page", "invalid"), {})
        # the window (after, before), both strict, as a run of positions in the listing order
        index = self._activity_index()
        if after is not None:  # oldest first
            order = index.oldest_first
            first = bisect.bisect_right(index.oldest_first_epochs, after)
            end = index.size if before is None else bisect.bisect_left(index.oldest_first_epochs, before)
        else:  # newest first
            order = index.newest_first
            first = 0 if before is None else bisect.bisect_right(index.newest_first_negated_epochs, -before)
            end = index.size
        in_window = max(0, end - first)
        if self._short_pages:
            start = 0
            for p in range(1, page):
                start += _short_page_size(p, per_page)
                if start >= in_window:
                    break
            stop = start + _short_page_size(page, per_page)
        else:
            start, stop = (page - 1) * per_page, page * per_page
        start, stop = first + min(start, in_window), first + min(stop, in_window)
        return _Reply(200, [index.source[i] for i in order[start:stop]], {})

    # -- control API -------------------------------------------------------------------------------------
    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        if path == f"{CONTROL_PREFIX}/state" and method == "GET":
            return _Reply(200, self.state(), {})
        documents = {"faults": self.apply_faults, "history": self.apply_history}
        name = path.removeprefix(f"{CONTROL_PREFIX}/")
        if name not in documents or method != "POST":
            return _Reply(404, {"message": f"no control endpoint {method} {path}"}, {})
        try:
            spec = json.loads(body or b"{}")
            if not isinstance(spec, dict):
                raise TypeError("the body must be a JSON object")
            done = documents[name](spec)
        except (ValueError, TypeError, KeyError) as exc:
            return _Reply(400, {"message": f"bad {name} request: {exc}"}, {})
        return _Reply(200, {**self.state(), **(done or {})}, {})

    def apply_history(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply a control-API history document (the JSON of ``POST /_standin/history``):
        ``{"upload": [activity, ...], "edit": [{"id": ..., "<field>": ...}, ...], "delete": [id, ...]}``,
        in that order, then ``"deauthorise": true`` (the athlete revokes the app). With ``"push": true``
        each change also sends its event to the subscription. Returns the ids of the uploads and the
        callback's status of each event sent (``{"uploaded": [...], "pushed": [200, ...]}``)."""
        known = {"upload", "edit", "delete", "deauthorise", "push"}
        unknown = sorted(spec.keys() - known)
        if unknown:
            raise KeyError(f"unknown history change(s) {unknown}; known: {sorted(known)}")
        push = bool(spec.get("push"))
        if push and self._webhook is None:
            raise ValueError("push: no push subscription (start the stand-in with --events-queue-url)")
        changes = {name: spec.get(name) or [] for name in ("upload", "edit", "delete")}
        for name, items in changes.items():
            if not isinstance(items, list):
                raise TypeError(f"{name} must be a list")
        for edit in changes["edit"]:
            if not isinstance(edit, dict) or "id" not in edit:
                raise TypeError("each edit must be an object with the activity's id")
        uploaded = [self.upload(activity)["id"] for activity in changes["upload"]]
        for edit in changes["edit"]:
            self.edit(edit["id"], **{k: v for k, v in edit.items() if k != "id"})
        for activity_id in changes["delete"]:
            self.delete(activity_id)
        if spec.get("deauthorise"):
            self.revoke_refresh_token()
        pushed_from = len(self.pushed)
        if push:
            for activity_id in uploaded:
                self.push("activity", "create", activity_id)
            for edit in changes["edit"]:
                updates = {
                    _UPDATE_FIELDS[k]: str(v).lower() if k == "private" else v
                    for k, v in edit.items()
                    if k in _UPDATE_FIELDS
                }
                self.push("activity", "update", edit["id"], updates)
            for activity_id in changes["delete"]:
                self.push("activity", "delete", activity_id)
            if spec.get("deauthorise"):
                self.push("athlete", "update", ATHLETE_ID, {"authorized": "false"})
        return {"uploaded": uploaded, "pushed": [status for _event, status in self.pushed[pushed_from:]]}

    def apply_faults(self, spec: dict[str, Any]) -> None:
        """Apply a control-API fault document (the JSON of ``POST /_standin/faults``)."""
        known = {
            "fail_next",
            "slow_next",
            "drop_next",
            "html_next",
            "short_pages",
            "rotate_every_refresh",
            "usage",
            "expire_access_tokens",
            "revoke_refresh_token",
        }
        unknown = sorted(spec.keys() - known)
        if unknown:
            raise KeyError(f"unknown fault switch(es) {unknown}; known: {sorted(known)}")
        if "fail_next" in spec:
            value = spec["fail_next"]
            self.fail_next(*value) if isinstance(value, list) else self.fail_next(int(value))
        if "slow_next" in spec:
            self.slow_next(*spec["slow_next"])
        if "drop_next" in spec:
            self.drop_next(int(spec["drop_next"]))
        if "html_next" in spec:
            self.html_next(int(spec["html_next"]))
        if "short_pages" in spec:
            self.set_short_pages(bool(spec["short_pages"]))
        if "rotate_every_refresh" in spec:
            self.set_rotate_every_refresh(bool(spec["rotate_every_refresh"]))
        if "usage" in spec:
            self.set_usage(**spec["usage"])
        if spec.get("expire_access_tokens"):
            self.expire_access_tokens()
        if spec.get("revoke_refresh_token"):
            self.revoke_refresh_token()


_ATHLETE = {
    "id": ATHLETE_ID,
    "username": "local_athlete",
    "resource_state": 2,
    "firstname": "Local",
    "lastname": "Athlete",
    "city": "London",
    "state": "England",
    "country": "United Kingdom",
    "sex": "F",
    "premium": False,
    "summit": False,
    "created_at": "2019-03-02T09:14:05Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "badge_type_id": 0,
    "weight": 61.0,
}


def _handler_for(standin: StravaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes; with Nagle's algorithm the body waits for the client's
        # delayed ACK of the headers, 40 ms on Linux, on every answer of a kept-alive connection
        disable_nagle_algorithm = True
        server_version = "strava-stand-in"
        sys_version = ""

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._send(_Reply(413, {"message": "Request Entity Too Large"}, {}))
                return
            body = self.rfile.read(length) if length else b""
            if parts.path.startswith(f"{CONTROL_PREFIX}/"):
                reply: _Reply | None = standin._control(method, parts.path, body)
            else:
                reply = standin._serve(method, parts.path, query, self.headers, body)
            if reply is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)  # socket.SHUT_RDWR: no answer at all
                return
            self._send(reply)

        def _send(self, reply: _Reply) -> None:
            # a page is sent as it is, anything else as JSON
            payload = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            if "Content-Type" not in reply.headers:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            # the default writes the raw request line (query string included) to stderr; log the path only
            log.debug("%s %s", self.command, urlsplit(self.path).path)

    return Handler


# ---------------------------------------------------------------------------------------------------------
# Process entry point
# ---------------------------------------------------------------------------------------------------------


def write_state_file(path: Path, standin: StravaStandIn) -> None:
    """Write base URL and client credentials to ``path`` (mode 0600, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "base_url": standin.base_url,
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "refresh_token": standin.refresh_token,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def subscribe_lambda(standin: StravaStandIn, queue_url: str, aws_endpoint_url: str | None) -> None:
    """Subscribe the webhook Lambda's code, with an SQS client of the local AWS and a fresh verify token
    (generated here, never written anywhere): the stand-in's pushes then reach ``queue_url``."""
    from functools import partial

    from devstack.credentials import client

    if not aws_endpoint_url:
        raise ValueError("--events-queue-url needs --aws-endpoint-url (the local AWS the queue is on)")
    verify_token = secrets.token_hex(16)
    handler = webhook_handler()
    standin.subscribe(
        partial(
            handler.handle,
            sqs=client("sqs", aws_endpoint_url),
            queue_url=queue_url,
            verify_token=verify_token,
        ),
        verify_token,
    )
    log.info("push events go through the webhook Lambda's code to %s", queue_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-file", type=Path, help="where to write base_url and client credentials")
    parser.add_argument("--activities", type=int, default=300, help="how many activities to seed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=365, help="seeded activities start over this many days")
    parser.add_argument("--no-rotation", action="store_true", help="keep the refresh token on refresh")
    parser.add_argument(
        "--events-queue-url", help="subscribe the webhook Lambda's code, sending to this queue"
    )
    parser.add_argument("--aws-endpoint-url", help="the local AWS the queue is on (with --events-queue-url)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s strava-stand-in %(levelname)s %(message)s")
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    standin = StravaStandIn(
        seed_activities(args.activities, seed=args.seed, days=args.days),
        host=args.host,
        port=args.port,
        rotate_refresh_tokens=not args.no_rotation,
    )
    url = standin.start()
    try:
        if args.events_queue_url:
            subscribe_lambda(standin, args.events_queue_url, args.aws_endpoint_url)
        if args.state_file:
            write_state_file(args.state_file, standin)
        log.info("serving %d activities at %s", len(standin.activities), url)
        announce_ready(url)
        stopped.wait()
    finally:
        standin.stop()
        if args.state_file:
            with contextlib.suppress(FileNotFoundError):
                args.state_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
