"""Extraction of one interval into the lake, over real HTTP: the Strava stand-in and the local S3."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from datalake.strava.client import StravaClient
from datalake.strava.errors import StravaSchemaError
from datalake.strava.extract import extract_interval
from datalake.strava.layout import CURATED_PREFIX, RAW_PREFIX, TMP_PREFIX, curated_key, raw_key
from datalake.strava.tokens import exchange_refresh_token
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import DAYS, END, list_objects

DAY = timedelta(days=1)


def client_for(standin: StravaStandIn) -> StravaClient:
    tokens = exchange_refresh_token(
        standin.base_url, standin.client_id, standin.client_secret, standin.refresh_token, conn_id="test"
    )
    assert tokens.access_token
    return StravaClient(standin.base_url, tokens.access_token)


def days() -> list[datetime]:
    return [END - DAY * (DAYS - i) for i in range(DAYS + 1)]


def read_ids(s3: Any, bucket: str) -> list[int]:
    ids: list[int] = []
    for key in list_objects(s3, bucket, CURATED_PREFIX):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        ids.extend(pq.read_table(io.BytesIO(body)).column("id").to_pylist())
    return ids


def raw_lines(s3: Any, bucket: str, start: datetime) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=raw_key(start))["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def test_every_seeded_activity_lands_once_in_its_days_partition(strava, lake) -> None:
    s3, bucket = lake
    client = client_for(strava)
    total = 0
    for start in days():
        result = extract_interval(client, s3, bucket, start, start + DAY, run_token="t1", per_page=7)
        total += result.rows
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=curated_key(start))["Body"].read()))
        assert all(start <= t < start + DAY for t in table.column("start_date").to_pylist())
    assert Counter(read_ids(s3, bucket)) == Counter(a["id"] for a in strava.activities)
    assert total == len(strava.activities)
    assert not list_objects(s3, bucket, TMP_PREFIX)  # temporary keys are gone


def test_running_the_same_interval_twice_leaves_exactly_the_same_objects(strava, lake) -> None:
    s3, bucket = lake
    start = days()[2]
    first = extract_interval(client_for(strava), s3, bucket, start, start + DAY, run_token="a", per_page=3)
    objects = list_objects(s3, bucket)
    second = extract_interval(client_for(strava), s3, bucket, start, start + DAY, run_token="b", per_page=3)
    assert list_objects(s3, bucket) == objects  # same keys, same ETags (byte-identical content)
    assert first.rows == second.rows > 0
    assert len(read_ids(s3, bucket)) == first.rows


def test_pages_shorter_than_per_page_before_the_end_lose_nothing(strava, lake) -> None:
    s3, bucket = lake
    strava.set_short_pages(True)
    start, end = days()[0], days()[-1]
    result = extract_interval(client_for(strava), s3, bucket, start, end, run_token="s", per_page=6)
    assert result.rows == len(strava.activities)
    assert Counter(read_ids(s3, bucket)) == Counter(a["id"] for a in strava.activities)


def test_a_quiet_day_costs_one_list_call(strava, lake) -> None:
    s3, bucket = lake
    quiet = END + DAY * 2  # nothing was seeded after END
    client = client_for(strava)
    result = extract_interval(client, s3, bucket, quiet - DAY, quiet, run_token="q")
    assert (result.rows, result.api_calls) == (0, 1)
    assert (
        pq.read_table(
            io.BytesIO(s3.get_object(Bucket=bucket, Key=curated_key(quiet - DAY))["Body"].read())
        ).num_rows
        == 0
    )


def test_new_fields_survive_in_the_raw_layer(strava, lake) -> None:
    s3, bucket = lake
    start = days()[1]
    for activity in strava.activities:
        activity["brand_new_field"] = {"nested": [1, 2]}
    extract_interval(client_for(strava), s3, bucket, start, start + DAY, run_token="n")
    lines = raw_lines(s3, bucket, start)
    assert lines
    assert all(line["brand_new_field"] == {"nested": [1, 2]} for line in lines)
    assert all("map" in line and "athlete" in line for line in lines)  # every field Strava sent


def test_a_wrong_type_fails_naming_activity_and_field_and_leaves_the_old_objects(strava, lake) -> None:
    s3, bucket = lake
    start = days()[3]
    extract_interval(client_for(strava), s3, bucket, start, start + DAY, run_token="ok")
    before = list_objects(s3, bucket)
    victim = next(
        a for a in strava.activities if start <= datetime.fromisoformat(a["start_date"]) < start + DAY
    )
    victim["moving_time"] = "forty minutes"
    with pytest.raises(StravaSchemaError, match=rf"activity {victim['id']}: field 'moving_time'"):
        extract_interval(client_for(strava), s3, bucket, start, start + DAY, run_token="bad")
    assert list_objects(s3, bucket) == before  # nothing half-written where readers look, no temp keys


def test_raw_and_curated_keys_are_deterministic_per_interval() -> None:
    start = datetime.fromisoformat("2026-03-04T00:00:00+00:00")
    assert raw_key(start) == f"{RAW_PREFIX}/dt=2026-03-04/activities.jsonl.gz"
    assert curated_key(start) == f"{CURATED_PREFIX}/dt=2026-03-04/activities.parquet"
