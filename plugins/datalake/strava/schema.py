"""The curated table's explicit schema: one Strava SummaryActivity per row, units in the names.

Units: metres (``_m``), seconds (``_s``), metres per second (``_mps``), beats per minute (``_bpm``),
watts, kilojoules, degrees (lat/lng). ``start_date`` is a UTC timestamp; ``start_date_local`` is the
wall-clock time at the activity's place (no zone). Optional fields that Strava leaves out become nulls;
a value of the wrong type raises :class:`StravaSchemaError` naming the activity id and the field. The raw
layer keeps every field Strava sent; this schema is what Athena sees (``include/sql/strava``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from datalake.strava.errors import StravaSchemaError

_MISSING = object()


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not v.is_integer()):
        raise TypeError("an integer")
    return int(v)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError("a number")
    return float(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("a string")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("a boolean")
    return v


def _timestamp(utc: bool) -> Callable[[Any], datetime]:
    def convert(v: Any) -> datetime:
        if not isinstance(v, str):
            raise TypeError("an ISO-8601 timestamp string")
        try:
            parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise TypeError("an ISO-8601 timestamp string") from None
        if utc:
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed.replace(tzinfo=None)

    return convert


def _latlng(index: int) -> Callable[[Any], float | None]:
    def convert(v: Any) -> float | None:
        if v is None or v == []:
            return None
        if not isinstance(v, list) or len(v) != 2:
            raise TypeError("a [lat, lng] pair or empty")
        return _float(v[index])

    return convert


@dataclass(frozen=True)
class Column:
    name: str  # column in Parquet and Athena
    source: tuple[str, ...]  # path in the Strava JSON
    type: pa.DataType
    convert: Callable[[Any], Any]
    athena_type: str
    doc: str
    required: bool = False


def _c(name: str, source: str, kind: str, doc: str, *, required: bool = False) -> Column:
    types: dict[str, tuple[pa.DataType, Callable[[Any], Any], str]] = {
        "bigint": (pa.int64(), _int, "bigint"),
        "double": (pa.float64(), _float, "double"),
        "string": (pa.string(), _str, "string"),
        "boolean": (pa.bool_(), _bool, "boolean"),
        "timestamp_utc": (pa.timestamp("ms", tz="UTC"), _timestamp(True), "timestamp"),
        "timestamp_local": (pa.timestamp("ms"), _timestamp(False), "timestamp"),
        "lat0": (pa.float64(), _latlng(0), "double"),
        "lat1": (pa.float64(), _latlng(1), "double"),
    }
    pa_type, convert, athena = types[kind]
    return Column(name, tuple(source.split(".")), pa_type, convert, athena, doc, required)


COLUMNS: tuple[Column, ...] = (
    _c("id", "id", "bigint", "Strava activity id", required=True),
    _c("name", "name", "string", "title"),
    _c("sport_type", "sport_type", "string", "sport type (Run, Ride, TrailRun, ...)"),
    _c("type", "type", "string", "legacy activity type"),
    _c("start_date", "start_date", "timestamp_utc", "start time, UTC", required=True),
    _c("start_date_local", "start_date_local", "timestamp_local", "start time, local wall clock"),
    _c("timezone", "timezone", "string", "e.g. (GMT+00:00) Europe/London"),
    _c("utc_offset_s", "utc_offset", "double", "offset of local time from UTC, seconds"),
    _c("distance_m", "distance", "double", "distance, metres"),
    _c("moving_time_s", "moving_time", "bigint", "moving time, seconds"),
    _c("elapsed_time_s", "elapsed_time", "bigint", "elapsed time, seconds"),
    _c("total_elevation_gain_m", "total_elevation_gain", "double", "elevation gain, metres"),
    _c("elev_high_m", "elev_high", "double", "highest elevation, metres"),
    _c("elev_low_m", "elev_low", "double", "lowest elevation, metres"),
    _c("average_speed_mps", "average_speed", "double", "average speed, m/s"),
    _c("max_speed_mps", "max_speed", "double", "maximum speed, m/s"),
    _c("has_heartrate", "has_heartrate", "boolean", "heart rate was recorded"),
    _c("average_heartrate_bpm", "average_heartrate", "double", "average heart rate, beats/min"),
    _c("max_heartrate_bpm", "max_heartrate", "double", "maximum heart rate, beats/min"),
    _c("average_watts", "average_watts", "double", "average power, watts"),
    _c("weighted_average_watts", "weighted_average_watts", "double", "weighted average power, watts"),
    _c("max_watts", "max_watts", "double", "maximum power, watts"),
    _c("kilojoules", "kilojoules", "double", "work, kilojoules"),
    _c("device_watts", "device_watts", "boolean", "power from a power meter"),
    _c("average_cadence", "average_cadence", "double", "average cadence, rpm (steps/min for runs)"),
    _c("suffer_score", "suffer_score", "double", "relative effort"),
    _c("workout_type", "workout_type", "bigint", "workout type code (race, long run, ...)"),
    _c("trainer", "trainer", "boolean", "indoor trainer"),
    _c("commute", "commute", "boolean", "marked as commute"),
    _c("manual", "manual", "boolean", "entered manually"),
    _c("private", "private", "boolean", "private activity"),
    _c("visibility", "visibility", "string", "everyone / followers_only / only_me"),
    _c("gear_id", "gear_id", "string", "gear used"),
    _c("achievement_count", "achievement_count", "bigint", "achievements"),
    _c("kudos_count", "kudos_count", "bigint", "kudos"),
    _c("comment_count", "comment_count", "bigint", "comments"),
    _c("athlete_count", "athlete_count", "bigint", "athletes in the group"),
    _c("photo_count", "photo_count", "bigint", "Instagram photos"),
    _c("total_photo_count", "total_photo_count", "bigint", "all photos"),
    _c("pr_count", "pr_count", "bigint", "personal records"),
    _c("start_lat", "start_latlng", "lat0", "start latitude, degrees"),
    _c("start_lng", "start_latlng", "lat1", "start longitude, degrees"),
    _c("end_lat", "end_latlng", "lat0", "end latitude, degrees"),
    _c("end_lng", "end_latlng", "lat1", "end longitude, degrees"),
    _c("athlete_id", "athlete.id", "bigint", "owner athlete id"),
    _c("map_summary_polyline", "map.summary_polyline", "string", "encoded summary polyline"),
    _c("upload_id", "upload_id", "bigint", "upload id"),
    _c("external_id", "external_id", "string", "file name or id of the upload"),
)

SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in COLUMNS])


def _lookup(activity: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = activity
    for part in path:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def activity_id(activity: Any) -> Any:
    return activity.get("id", "<no id>") if isinstance(activity, dict) else "<not an object>"


def to_row(activity: Any) -> dict[str, Any]:
    """One activity as a typed row; raises :class:`StravaSchemaError` naming the id and field."""
    if not isinstance(activity, dict):
        raise StravaSchemaError(
            f"Strava sent an activity that is not a JSON object: {type(activity).__name__}"
        )
    row: dict[str, Any] = {}
    for col in COLUMNS:
        value = _lookup(activity, col.source)
        if value is _MISSING or value is None:
            if col.required:
                raise StravaSchemaError(
                    f"activity {activity_id(activity)}: required field {'.'.join(col.source)!r} is missing"
                )
            row[col.name] = None
            continue
        try:
            row[col.name] = col.convert(value)
        except TypeError as exc:
            raise StravaSchemaError(
                f"activity {activity_id(activity)}: field {'.'.join(col.source)!r} should be {exc}, "
                f"got {type(value).__name__} {str(value)[:40]!r}"
            ) from None
    return row


def to_record_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Typed rows (from :func:`to_row`) as a record batch of :data:`SCHEMA`."""
    arrays = [pa.array([r[c.name] for r in rows], type=c.type) for c in COLUMNS]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
