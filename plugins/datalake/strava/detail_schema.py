"""The detail tables' explicit schemas: what only Strava's DetailedActivity holds, the gear, the streams.

One Athena table each, in the Strava database, units in the names as in :mod:`datalake.strava.schema`.
Every row of a detail table names its activity (``activity_id``, the activities table's ``id``) and is
partitioned by the activity's day (``dt``), like the activities:

- ``activity_details``: one row per activity: description, calories, device, gear (id and name), and the
  fingerprint of the summary the detailed view was fetched for (:func:`fingerprint`);
- ``activity_laps``, ``activity_splits`` (metric, one per km), ``activity_best_efforts`` (runs): one row
  per lap, split or effort, numbered within the activity;
- ``gear``: one row per gear id (unpartitioned): name, brand, model, Strava's distance, the day fetched;
- ``activity_streams``: one row per point of an activity's streams (one Parquet file per activity).

Four tables rather than one with nested arrays: laps, splits and efforts are queried on their own (a
pace per km, the fastest 5k), and flat Parquet reads in every engine without UNNEST.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from datalake.strava.layout import DAY_TABLE_NAMES, GEAR_TABLE, STREAMS_TABLE
from datalake.strava.schema import Column, column, schema_of

# The summary fields the detailed view depends on: an activity whose values of these change (a crop, a
# new sport type or gear, a rename, which the same form edits with the description) is fetched again.
# Kudos, comments, photos and privacy do not change what the detail tables hold.
FINGERPRINT_FIELDS = (
    "id",
    "name",
    "sport_type",
    "type",
    "start_date",
    "distance",
    "moving_time",
    "elapsed_time",
    "total_elevation_gain",
    "gear_id",
    "kilojoules",
    "average_heartrate",
    "manual",
    "trainer",
    "upload_id",
)
# Changing this (or the fields above) changes every fingerprint: every activity is fetched again once.
FINGERPRINT_VERSION = "strava-detail/1"


def fingerprint(activity: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over :data:`FINGERPRINT_FIELDS` of a summary (or detailed) activity."""
    values = {name: activity.get(name) for name in FINGERPRINT_FIELDS}
    text = json.dumps(
        [FINGERPRINT_VERSION, values], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DetailTable:
    """One detail table: its name (the Athena table's and the lake folder's), columns and where in a
    DetailedActivity its rows are (``items``: a list field, one row each; None: the activity itself),
    and ``index``, the field that numbers an item within its activity (1, 2, ...; filled in where
    Strava leaves it out)."""

    name: str
    columns: tuple[Column, ...]
    items: str | None
    doc: str
    index: str | None = None

    @property
    def schema(self) -> pa.Schema:
        return schema_of(self.columns)


_ACTIVITY = column("activity_id", "activity_id", "bigint", "the activity (activities.id)", required=True)

DETAILS = DetailTable(
    DAY_TABLE_NAMES[0],
    (
        _ACTIVITY,
        column("start_date", "start_date", "timestamp_utc", "start time, UTC", required=True),
        column("fingerprint", "fingerprint", "string", "of the summary fetched for", required=True),
        column("description", "description", "string", "the athlete's description"),
        column("calories", "calories", "double", "energy, kilocalories (Strava's estimate)"),
        column("device_name", "device_name", "string", "recording device"),
        column("gear_id", "gear.id", "string", "gear used"),
        column("gear_name", "gear.name", "string", "its name when fetched"),
        column("laps", "laps_count", "bigint", "rows in activity_laps"),
        column("splits", "splits_count", "bigint", "rows in activity_splits"),
        column("best_efforts", "best_efforts_count", "bigint", "rows in activity_best_efforts"),
    ),
    None,
    "one row per activity",
)
LAPS = DetailTable(
    DAY_TABLE_NAMES[1],
    (
        _ACTIVITY,
        column("lap_index", "lap_index", "bigint", "1, 2, ... within the activity", required=True),
        column("lap_id", "id", "bigint", "Strava lap id"),
        column("name", "name", "string", "lap name"),
        column("start_date", "start_date", "timestamp_utc", "lap start, UTC"),
        column("distance_m", "distance", "double", "distance, metres"),
        column("moving_time_s", "moving_time", "bigint", "moving time, seconds"),
        column("elapsed_time_s", "elapsed_time", "bigint", "elapsed time, seconds"),
        column("total_elevation_gain_m", "total_elevation_gain", "double", "elevation gain, metres"),
        column("average_speed_mps", "average_speed", "double", "average speed, m/s"),
        column("max_speed_mps", "max_speed", "double", "maximum speed, m/s"),
        column("average_heartrate_bpm", "average_heartrate", "double", "average heart rate, beats/min"),
        column("max_heartrate_bpm", "max_heartrate", "double", "maximum heart rate, beats/min"),
        column("average_cadence", "average_cadence", "double", "average cadence"),
        column("average_watts", "average_watts", "double", "average power, watts"),
    ),
    "laps",
    "one row per lap",
    index="lap_index",
)
SPLITS = DetailTable(
    DAY_TABLE_NAMES[2],
    (
        _ACTIVITY,
        column("split", "split", "bigint", "1, 2, ... one per km, the last the rest", required=True),
        column("distance_m", "distance", "double", "distance, metres"),
        column("moving_time_s", "moving_time", "bigint", "moving time, seconds"),
        column("elapsed_time_s", "elapsed_time", "bigint", "elapsed time, seconds"),
        column("elevation_difference_m", "elevation_difference", "double", "elevation change, metres"),
        column("average_speed_mps", "average_speed", "double", "average speed, m/s"),
        column("average_grade_adjusted_speed_mps", "average_grade_adjusted_speed", "double", "GAP, m/s"),
        column("average_heartrate_bpm", "average_heartrate", "double", "average heart rate, beats/min"),
        column("pace_zone", "pace_zone", "bigint", "pace zone"),
    ),
    "splits_metric",
    "one row per metric split",
    index="split",
)
BEST_EFFORTS = DetailTable(
    DAY_TABLE_NAMES[3],
    (
        _ACTIVITY,
        column("effort_index", "effort_index", "bigint", "1, 2, ... within the activity", required=True),
        column("effort_id", "id", "bigint", "Strava effort id"),
        column("name", "name", "string", "400m, 1k, 5k, Half-Marathon, ..."),
        column("distance_m", "distance", "double", "distance, metres"),
        column("elapsed_time_s", "elapsed_time", "bigint", "elapsed time, seconds"),
        column("moving_time_s", "moving_time", "bigint", "moving time, seconds"),
        column("start_date", "start_date", "timestamp_utc", "effort start, UTC"),
        column("pr_rank", "pr_rank", "bigint", "1: a personal record, 2 and 3: second and third best"),
    ),
    "best_efforts",
    "one row per best effort",
    index="effort_index",
)
# the tables cut from a DetailedActivity, in the order they are written
DAY_TABLES = (DETAILS, LAPS, SPLITS, BEST_EFFORTS)

GEAR = DetailTable(
    GEAR_TABLE,
    (
        column("gear_id", "id", "string", "Strava gear id (g...: shoes, b...: bikes)", required=True),
        column("name", "name", "string", "name"),
        column("brand_name", "brand_name", "string", "brand"),
        column("model_name", "model_name", "string", "model"),
        column("nickname", "nickname", "string", "nickname"),
        column("primary", "primary", "boolean", "the athlete's primary gear of its kind"),
        column("retired", "retired", "boolean", "retired"),
        column("distance_m", "distance", "double", "Strava's total distance when fetched, metres"),
        column(
            "fetched_on", "fetched_on", "string", "the UTC day it was fetched (YYYY-MM-DD)", required=True
        ),
    ),
    None,
    "one row per gear id",
)

# one column per stream of strava.streams (datalake.config.STRAVA_STREAMS), latlng two
STREAMS = DetailTable(
    STREAMS_TABLE,
    (
        _ACTIVITY,
        column("point", "point", "bigint", "0, 1, ... within the activity", required=True),
        column("time_s", "time", "bigint", "seconds since the start"),
        column("distance_m", "distance", "double", "distance so far, metres"),
        column("heartrate_bpm", "heartrate", "double", "heart rate, beats/min"),
        column("watts", "watts", "double", "power, watts"),
        column("cadence", "cadence", "double", "cadence"),
        column("altitude_m", "altitude", "double", "altitude, metres"),
        column("lat", "latlng", "lat0", "latitude, degrees"),
        column("lng", "latlng", "lat1", "longitude, degrees"),
    ),
    None,
    "one row per stream point",
)

# every detail table by name (its Athena table's and its lake folder's)
TABLES = {table.name: table for table in (*DAY_TABLES, GEAR, STREAMS)}
