"""What the Strava stand-in's detail endpoints answer: each activity's detailed view, its streams, gear.

Every value is derived from the summary the stand-in lists (and, for randomness, from the activity's id),
so the same activity gives the same answer every time, and an edit of the summary (a new distance, sport
type or gear) shows in the detailed view:

- :func:`detailed_activity`: Strava's DetailedActivity, the summary plus ``description``, ``calories``,
  ``device_name``, ``gear`` (a summary: id, name, primary), ``laps``, ``splits_metric`` (one per km, the
  last one the rest) and ``best_efforts`` (runs: every standard distance the run covers);
- :func:`activity_streams`: ``/activities/{id}/streams``, the streams the activity has (heart rate only
  with a sensor, watts only with power, coordinates only with a GPS track), one point per 10 s;
- :func:`gear`: ``/gear/{id}`` for the ids the seed hands out, its distance summed over the activities.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

RUNS = frozenset({"Run", "TrailRun"})
RIDES = frozenset({"Ride", "GravelRide", "MountainBikeRide", "VirtualRide"})
# Strava's standard best-effort distances (metres) and names
BEST_EFFORTS = (
    (400.0, "400m"),
    (805.0, "1/2 mile"),
    (1000.0, "1k"),
    (1609.0, "1 mile"),
    (3219.0, "2 mile"),
    (5000.0, "5k"),
    (10000.0, "10k"),
    (15000.0, "15k"),
    (16093.0, "10 mile"),
    (20000.0, "20k"),
    (21097.0, "Half-Marathon"),
    (42195.0, "Marathon"),
)
STREAM_KEYS = ("time", "distance", "latlng", "altitude", "heartrate", "cadence", "watts")
STREAM_STEP_S = 10  # one stream point per this many seconds of elapsed time
MAX_LAPS = 60
# the gear the seed hands out: "g" + number for shoes, "b" + number for bikes
_GEAR = {
    "4021337": (("Nike", "Pegasus 40"), ("Canyon", "Endurace CF 7")),
    "5560112": (("Hoka", "Speedgoat 5"), ("Specialized", "Diverge Comp")),
    "7718803": (("Saucony", "Endorphin Speed 3"), ("Wahoo", "KICKR Core")),
}
_DESCRIPTIONS = (
    "",
    "",
    "Felt strong today.",
    "Legs heavy after yesterday.",
    "With the club, easy pace.",
    "New route, will do it again.",
    "Windy on the way back.",
)


def _rng(activity: dict[str, Any], what: str) -> random.Random:
    return random.Random(f"strava-stand-in/{what}/{activity['id']}")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _starts(activity: dict[str, Any]) -> tuple[datetime, datetime]:
    utc = datetime.fromisoformat(activity["start_date"].replace("Z", "+00:00"))
    local = datetime.fromisoformat(activity["start_date_local"].replace("Z", "+00:00"))
    return utc, local


def _shares(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, whole numbers that sum to ``total`` exactly."""
    whole = sum(weights)
    out = [int(total * w / whole) for w in weights]
    out[-1] += total - sum(out)
    return out


def _pieces(distance: float, length: float, limit: int) -> list[float]:
    """``distance`` cut into pieces of ``length`` (the last one the rest), at most ``limit`` pieces."""
    if distance <= 0:
        return []
    count = min(limit, max(1, math.ceil(distance / length - 1e-9)))
    length = max(length, distance / count)
    pieces = [length] * (count - 1)
    pieces.append(round(distance - sum(pieces), 1))
    return [round(p, 1) for p in pieces]


def gear_name(gear_id: str) -> tuple[str, str] | None:
    """(brand, model) of a gear id the seed hands out; None for any other."""
    kind, number = gear_id[:1], gear_id[1:]
    if kind not in ("g", "b") or number not in _GEAR:
        return None
    return _GEAR[number][0 if kind == "g" else 1]


def calories(activity: dict[str, Any]) -> float:
    """Strava's estimate: from the work done when there is power, else from time and sport."""
    if activity.get("kilojoules"):
        return round(float(activity["kilojoules"]) * 1.1, 1)
    per_minute = 11.0 if activity["sport_type"] in RUNS else 4.0 if activity["sport_type"] == "Yoga" else 7.5
    return round(activity["moving_time"] / 60 * per_minute, 1)


def _device(activity: dict[str, Any]) -> str | None:
    external = activity.get("external_id") or ""
    if activity.get("manual"):
        return None
    if external.startswith("zwift"):
        return "Zwift"
    ride = activity["sport_type"] in RIDES
    if external.startswith("garmin"):
        return "Garmin Edge 530" if ride else "Garmin Forerunner 955"
    return "Wahoo ELEMNT BOLT" if ride else "COROS PACE 3"


def _laps(activity: dict[str, Any], utc: datetime, local: datetime) -> list[dict[str, Any]]:
    rng = _rng(activity, "laps")
    distance, moving, elapsed = float(activity["distance"]), activity["moving_time"], activity["elapsed_time"]
    auto = 5000.0 if activity["sport_type"] in RIDES else 1000.0
    lengths = _pieces(distance, auto, MAX_LAPS) if activity.get("start_latlng") else []
    if not lengths:
        lengths = [distance]
    weights = [length * rng.uniform(0.9, 1.1) for length in lengths] if distance else [1.0]
    moving_parts = _shares(moving, weights)
    elapsed_parts = _shares(elapsed, [m + 1 for m in moving_parts])
    laps, offset = [], 0
    for index, (length, lap_moving, lap_elapsed) in enumerate(
        zip(lengths, moving_parts, elapsed_parts, strict=True)
    ):
        lap: dict[str, Any] = {
            "id": activity["id"] * 100 + index + 1,
            "resource_state": 2,
            "name": f"Lap {index + 1}",
            "activity": {"id": activity["id"], "resource_state": 1},
            "elapsed_time": lap_elapsed,
            "moving_time": lap_moving,
            "start_date": _iso(utc + timedelta(seconds=offset)),
            "start_date_local": _iso(local + timedelta(seconds=offset)),
            "distance": length,
            "average_speed": round(length / lap_moving, 3) if lap_moving else 0.0,
            "max_speed": round(length / lap_moving * rng.uniform(1.1, 1.6), 3) if lap_moving else 0.0,
            "total_elevation_gain": round(activity["total_elevation_gain"] * length / distance, 1)
            if distance
            else 0.0,
            "lap_index": index + 1,
            "split": index + 1,
            "start_index": offset // STREAM_STEP_S,
            "end_index": (offset + lap_elapsed) // STREAM_STEP_S,
        }
        if "average_heartrate" in activity:
            lap["average_heartrate"] = round(activity["average_heartrate"] + rng.uniform(-6, 6), 1)
            lap["max_heartrate"] = float(min(200, int(lap["average_heartrate"] + rng.uniform(5, 20))))
        if "average_cadence" in activity:
            lap["average_cadence"] = round(activity["average_cadence"] + rng.uniform(-2, 2), 1)
        if "average_watts" in activity:
            lap["average_watts"] = round(activity["average_watts"] + rng.uniform(-15, 15), 1)
            lap["device_watts"] = activity.get("device_watts", False)
        laps.append(lap)
        offset += lap_elapsed
    return laps


def _splits(activity: dict[str, Any]) -> list[dict[str, Any]]:
    rng = _rng(activity, "splits")
    distance = float(activity["distance"])
    if distance <= 0 or activity["sport_type"] not in RUNS | RIDES | {"Walk", "Hike"}:
        return []
    lengths = _pieces(distance, 1000.0, 10_000)
    weights = [length * rng.uniform(0.93, 1.07) for length in lengths]
    moving_parts = _shares(activity["moving_time"], weights)
    elapsed_parts = _shares(activity["elapsed_time"], [m + 1 for m in moving_parts])
    splits = []
    for index, (length, moving, elapsed) in enumerate(zip(lengths, moving_parts, elapsed_parts, strict=True)):
        split: dict[str, Any] = {
            "distance": length,
            "elapsed_time": elapsed,
            "elevation_difference": round(rng.uniform(-8, 8), 1),
            "moving_time": moving,
            "split": index + 1,
            "average_speed": round(length / moving, 3) if moving else 0.0,
            "average_grade_adjusted_speed": round(length / moving * rng.uniform(0.97, 1.05), 3)
            if moving
            else None,
            "pace_zone": rng.randrange(1, 6),
        }
        if "average_heartrate" in activity:
            split["average_heartrate"] = round(activity["average_heartrate"] + rng.uniform(-8, 8), 1)
        splits.append(split)
    return splits


def _best_efforts(activity: dict[str, Any], utc: datetime, local: datetime) -> list[dict[str, Any]]:
    if activity["sport_type"] not in RUNS or activity.get("manual") or not activity["moving_time"]:
        return []
    rng = _rng(activity, "best-efforts")
    speed = float(activity["distance"]) / activity["moving_time"]
    efforts = []
    for index, (length, name) in enumerate(BEST_EFFORTS):
        if length > activity["distance"]:
            break
        # shorter efforts are run faster than the average pace
        elapsed = max(1, round(length / (speed * (1.0 + 0.12 / (index + 1) + rng.uniform(0, 0.03)))))
        offset = rng.randrange(0, max(1, activity["moving_time"] - elapsed))
        efforts.append(
            {
                "id": activity["id"] * 100 + 80 + index,
                "resource_state": 2,
                "name": name,
                "activity": {"id": activity["id"], "resource_state": 1},
                "elapsed_time": elapsed,
                "moving_time": elapsed,
                "start_date": _iso(utc + timedelta(seconds=offset)),
                "start_date_local": _iso(local + timedelta(seconds=offset)),
                "distance": length,
                "pr_rank": rng.choice([None, None, None, 1, 2, 3]),
                "achievements": [],
                "start_index": offset // STREAM_STEP_S,
                "end_index": (offset + elapsed) // STREAM_STEP_S,
            }
        )
    return efforts


def detailed_activity(activity: dict[str, Any], *, gear_distance: float | None = None) -> dict[str, Any]:
    """The DetailedActivity of a listed ``activity`` (see the module doc); ``gear_distance``, the metres
    its gear has done, goes into the gear summary as Strava puts it there."""
    rng = _rng(activity, "detail")
    utc, local = _starts(activity)
    detailed = dict(activity)
    detailed["resource_state"] = 3
    detailed["description"] = rng.choice(_DESCRIPTIONS)
    detailed["calories"] = calories(activity)
    device = _device(activity)
    if device is not None:
        detailed["device_name"] = device
    gear_id = activity.get("gear_id")
    names = gear_name(gear_id) if gear_id else None
    if gear_id and names:
        detailed["gear"] = {
            "id": gear_id,
            "primary": gear_id[1:] == "4021337",
            "name": " ".join(names),
            "nickname": None,
            "resource_state": 2,
            "retired": False,
            "distance": gear_distance or 0.0,
            "converted_distance": round((gear_distance or 0.0) / 1000, 1),
        }
    detailed["laps"] = _laps(activity, utc, local)
    detailed["splits_metric"] = _splits(activity)
    detailed["best_efforts"] = _best_efforts(activity, utc, local)
    detailed["segment_efforts"] = []
    detailed["photos"] = {"primary": None, "count": 0}
    detailed["embed_token"] = f"{activity['id']:x}"
    return detailed


def activity_streams(activity: dict[str, Any], keys: list[str]) -> dict[str, dict[str, Any]]:
    """The streams of ``keys`` that ``activity`` has, keyed by type, each ``{"data": [...], ...}`` with
    one point per :data:`STREAM_STEP_S` seconds (every stream of an activity has the same length)."""
    rng = _rng(activity, "streams")
    elapsed = int(activity["elapsed_time"])
    time_s = [*range(0, elapsed, STREAM_STEP_S), elapsed]  # the last point at the end
    points = len(time_s)
    total = float(activity["distance"])
    distance = [round(total * t / elapsed, 1) if elapsed else 0.0 for t in time_s]
    available: dict[str, list[Any]] = {"time": time_s}
    if total > 0:
        available["distance"] = distance
    start, end = activity.get("start_latlng") or [], activity.get("end_latlng") or []
    if start and end:
        available["latlng"] = [
            [
                round(start[0] + (end[0] - start[0]) * i / max(1, points - 1) + rng.uniform(-1e-4, 1e-4), 6),
                round(start[1] + (end[1] - start[1]) * i / max(1, points - 1) + rng.uniform(-1e-4, 1e-4), 6),
            ]
            for i in range(points)
        ]
    if "elev_low" in activity:
        low, high = activity["elev_low"], activity.get("elev_high", activity["elev_low"])
        available["altitude"] = [
            round(low + (high - low) * (0.5 + 0.5 * math.sin(i / 7)), 1) for i in range(points)
        ]
    if "average_heartrate" in activity:
        base = activity["average_heartrate"]
        available["heartrate"] = [int(base + rng.uniform(-10, 10)) for _ in range(points)]
    if "average_cadence" in activity:
        available["cadence"] = [int(activity["average_cadence"] + rng.uniform(-4, 4)) for _ in range(points)]
    if "average_watts" in activity:
        available["watts"] = [
            max(0, int(activity["average_watts"] + rng.uniform(-60, 60))) for _ in range(points)
        ]
    wanted = [key for key in keys if key in available]
    if wanted and "distance" in available and "distance" not in wanted:
        wanted.append("distance")  # Strava sends the series the others are sampled on
    return {
        key: {
            "data": available[key],
            "series_type": "distance" if "distance" in available else "time",
            "original_size": points,
            "resolution": "high",
        }
        for key in wanted
    }


def gear(gear_id: str, activities: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``/gear/{id}`` (DetailedGear), its distance summed over ``activities``; None for an unknown id."""
    names = gear_name(gear_id)
    if names is None or not any(a.get("gear_id") == gear_id for a in activities):
        return None
    brand, model = names
    distance = round(sum(float(a["distance"]) for a in activities if a.get("gear_id") == gear_id), 1)
    found: dict[str, Any] = {
        "id": gear_id,
        "primary": gear_id[1:] == "4021337",
        "resource_state": 3,
        "distance": distance,
        "converted_distance": round(distance / 1000, 1),
        "brand_name": brand,
        "model_name": model,
        "name": f"{brand} {model}",
        "nickname": None,
        "retired": False,
        "description": "",
    }
    if gear_id.startswith("b"):
        found["frame_type"] = 3
    return found
