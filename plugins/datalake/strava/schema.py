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


def column(name: str, source: str, kind: str, doc: str, *, required: bool = False) -> Column:
    """A column ``name`` read from ``source`` (a dotted path) as ``kind``: bigint, double, string,
    boolean, timestamp_utc, timestamp_local, lat0 or lat1 (a [lat, lng] pair's first or second)."""
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
    column("id", "id", "bigint", "Strava activity id", required=True),
    column("name", "name", "string", "title"),
    column("sport_type", "sport_type", "string", "sport type (Run, Ride, TrailRun, ...)"),
    column("type", "type", "string", "legacy activity type"),
    column("start_date", "start_date", "timestamp_utc", "start time, UTC", required=True),
    column("start_date_local", "start_date_local", "timestamp_local", "start time, local wall clock"),
    column("timezone", "timezone", "string", "e.g. (GMT+00:00) Europe/London"),
    column("utc_offset_s", "utc_offset", "double", "offset of local time from UTC, seconds"),
    column("distance_m", "distance", "double", "distance, metres"),
    column("moving_time_s", "moving_time", "bigint", "moving time, seconds"),
    column("elapsed_time_s", "elapsed_time", "bigint", "elapsed time, seconds"),
    column("total_elevation_gain_m", "total_elevation_gain", "double", "elevation gain, metres"),
    column("elev_high_m", "elev_high", "double", "highest elevation, metres"),
    column("elev_low_m", "elev_low", "double", "lowest elevation, metres"),
    column("average_speed_mps", "average_speed", "double", "average speed, m/s"),
    column("max_speed_mps", "max_speed", "double", "maximum speed, m/s"),
    column("has_heartrate", "has_heartrate", "boolean", "heart rate was recorded"),
    column("average_heartrate_bpm", "average_heartrate", "double", "average heart rate, beats/min"),
    column("max_heartrate_bpm", "max_heartrate", "double", "maximum heart rate, beats/min"),
    column("average_watts", "average_watts", "double", "average power, watts"),
    column("weighted_average_watts", "weighted_average_watts", "double", "weighted average power, watts"),
    column("max_watts", "max_watts", "double", "maximum power, watts"),
    column("kilojoules", "kilojoules", "double", "work, kilojoules"),
    column("device_watts", "device_watts", "boolean", "power from a power meter"),
    column("average_cadence", "average_cadence", "double", "average cadence, rpm (steps/min for runs)"),
    column("suffer_score", "suffer_score", "double", "relative effort"),
    column("workout_type", "workout_type", "bigint", "workout type code (race, long run, ...)"),
    column("trainer", "trainer", "boolean", "indoor trainer"),
    column("commute", "commute", "boolean", "marked as commute"),
    column("manual", "manual", "boolean", "entered manually"),
    column("private", "private", "boolean", "private activity"),
    column("visibility", "visibility", "string", "everyone / followers_only / only_me"),
    column("gear_id", "gear_id", "string", "gear used"),
    column("achievement_count", "achievement_count", "bigint", "achievements"),
    column("kudos_count", "kudos_count", "bigint", "kudos"),
    column("comment_count", "comment_count", "bigint", "comments"),
    column("athlete_count", "athlete_count", "bigint", "athletes in the group"),
    column("photo_count", "photo_count", "bigint", "Instagram photos"),
    column("total_photo_count", "total_photo_count", "bigint", "all photos"),
    column("pr_count", "pr_count", "bigint", "personal records"),
    column("start_lat", "start_latlng", "lat0", "start latitude, degrees"),
    column("start_lng", "start_latlng", "lat1", "start longitude, degrees"),
    column("end_lat", "end_latlng", "lat0", "end latitude, degrees"),
    column("end_lng", "end_latlng", "lat1", "end longitude, degrees"),
    column("athlete_id", "athlete.id", "bigint", "owner athlete id"),
    column("map_summary_polyline", "map.summary_polyline", "string", "encoded summary polyline"),
    column("upload_id", "upload_id", "bigint", "upload id"),
    column("external_id", "external_id", "string", "file name or id of the upload"),
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


def schema_of(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in columns])


def to_row(activity: Any, columns: Sequence[Column] = COLUMNS, *, what: str | None = None) -> dict[str, Any]:
    """One activity (or one item of its detailed view, with ``columns`` of its table) as a typed row;
    raises :class:`StravaSchemaError` naming ``what`` (by default the activity id) and the field."""
    if not isinstance(activity, dict):
        raise StravaSchemaError(
            f"Strava sent {what or 'an activity'} that is not a JSON object: {type(activity).__name__}"
        )
    what = what or f"activity {activity_id(activity)}"
    row: dict[str, Any] = {}
    for col in columns:
        value = _lookup(activity, col.source)
        if value is _MISSING or value is None:
            if col.required:
                raise StravaSchemaError(f"{what}: required field {'.'.join(col.source)!r} is missing")
            row[col.name] = None
            continue
        try:
            row[col.name] = col.convert(value)
        except TypeError as exc:
            raise StravaSchemaError(
                f"{what}: field {'.'.join(col.source)!r} should be {exc}, "
                f"got {type(value).__name__} {str(value)[:40]!r}"
            ) from None
    return row


def to_record_batch(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column] = COLUMNS, schema: pa.Schema = SCHEMA
) -> pa.RecordBatch:
    """Typed rows (from :func:`to_row`) as a record batch of ``schema`` (:data:`SCHEMA` by default)."""
    arrays = [pa.array([r[c.name] for r in rows], type=c.type) for c in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
