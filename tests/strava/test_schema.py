"""The curated schema: explicit types and units, nulls for missing optional fields, clear type errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from datalake.config import SQL_DIR
from datalake.strava.errors import StravaSchemaError
from datalake.strava.schema import COLUMNS, SCHEMA, to_record_batch, to_row
from tests.strava.conftest import seeded

CONTRACT = {
    "id": "bigint",
    "name": "string",
    "sport_type": "string",
    "type": "string",
    "start_date": "timestamp",
    "start_date_local": "timestamp",
    "timezone": "string",
    "distance_m": "double",
    "moving_time_s": "bigint",
    "elapsed_time_s": "bigint",
    "total_elevation_gain_m": "double",
    "average_speed_mps": "double",
    "max_speed_mps": "double",
    "average_heartrate_bpm": "double",
    "max_heartrate_bpm": "double",
    "average_watts": "double",
    "kilojoules": "double",
}


def test_the_table_ddl_lists_exactly_the_schema_columns_and_the_agreed_contract() -> None:
    ddl = (SQL_DIR / "strava" / "create_table.sql").read_text()
    declared = dict(re.findall(r"^\s+`(\w+)` (\w+),?$", ddl, flags=re.MULTILINE))
    assert declared == {c.name: c.athena_type for c in COLUMNS}
    for name, kind in CONTRACT.items():
        assert declared[name] == kind, name
    assert "PARTITIONED BY (dt string)" in ddl


def test_start_date_is_a_utc_timestamp_and_local_time_has_no_zone() -> None:
    assert SCHEMA.field("start_date").type == pa.timestamp("ms", tz="UTC")
    assert SCHEMA.field("start_date_local").type == pa.timestamp("ms")
    row = to_row({"id": 1, "start_date": "2022-01-16T07:12:31Z", "start_date_local": "2022-01-16T08:12:31Z"})
    assert row["start_date"] == datetime(2022, 1, 16, 7, 12, 31, tzinfo=UTC)
    assert row["start_date_local"] == datetime(2022, 1, 16, 8, 12, 31)


def test_missing_optional_fields_become_nulls() -> None:
    row = to_row({"id": 5, "start_date": "2022-01-16T07:12:31Z", "start_latlng": []})
    batch = to_record_batch([row])
    assert batch.num_rows == 1
    assert batch.column("average_heartrate_bpm").null_count == 1
    assert batch.column("start_lat").null_count == 1


def test_seeded_activities_convert_with_units_in_the_names() -> None:
    activities = seeded(20)
    batch = to_record_batch([to_row(a) for a in activities])
    assert batch.column("distance_m").to_pylist() == [float(a["distance"]) for a in activities]
    assert batch.column("moving_time_s").to_pylist() == [a["moving_time"] for a in activities]


@pytest.mark.parametrize(
    ("field", "value"),
    [("distance", "12 km"), ("moving_time", 12.5), ("commute", "yes"), ("start_date", 1642317151)],
)
def test_a_field_of_the_wrong_type_fails_naming_the_activity_and_field(field: str, value: object) -> None:
    activity = {"id": 987654321, "start_date": "2022-01-16T07:12:31Z", field: value}
    with pytest.raises(StravaSchemaError, match=rf"activity 987654321: field '{field}'"):
        to_row(activity)


def test_an_activity_without_id_or_start_date_is_refused() -> None:
    with pytest.raises(StravaSchemaError, match="'start_date' is missing"):
        to_row({"id": 3})
