"""Detailed activities over real HTTP: the Strava stand-in, the local S3 (and the Athena that runs SQL).

Each run fetches the detailed view of exactly its new and changed activities, within a share of the
rate budget; what does not fit is a backlog the next runs drain, and no run ever meets a 429.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from datalake.strava.budget import Budget
from datalake.strava.client import StravaClient
from datalake.strava.detail_schema import DAY_TABLES, fingerprint
from datalake.strava.details import DetailOptions
from datalake.strava.extract import ExtractResult, extract_window
from datalake.strava.layout import BACKLOG_KEY, day_table_key, stream_prefix
from datalake.strava.tokens import exchange_refresh_token
from datalake.strava.window import midnight, run_window
from devstack.strava_api import StravaStandIn
from devstack.strava_details import detailed_activity
from tests.clock import FakeClock
from tests.strava.conftest import END, athena_rows, list_objects, object_versions, seeded

DAY = timedelta(days=1)
FIRST = "2025-01-01"
LAST_SEEDED = (END - DAY).date()  # seeded activities start in the 5 days before END
DETAIL_PATH = re.compile(r"/api/v3/activities/\d+$")
STREAMS_PATH = re.compile(r"/api/v3/activities/\d+/streams$")
TODAY = date(2026, 11, 25)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(END.timestamp() + 2 * 86400 + 60)  # a minute into a quarter hour, after the runs' days


@pytest.fixture
def standin(clock: FakeClock) -> Iterator[StravaStandIn]:
    with StravaStandIn(seeded(), clock=clock) as strava:
        yield strava


def client_for(strava: StravaStandIn, clock: FakeClock) -> StravaClient:
    tokens = exchange_refresh_token(
        strava.base_url, strava.client_id, strava.client_secret, strava.refresh_token, conn_id="test"
    )
    return StravaClient(
        strava.base_url, tokens.access_token or "", clock=clock, sleep=clock.sleep, deadline=clock() + 7200
    )


def run(
    strava: StravaStandIn,
    clock: FakeClock,
    lake: tuple[Any, str],
    day: date,
    *,
    share: float = 0.5,
    streams: tuple[str, ...] = (),
) -> ExtractResult:
    """The extraction, details on, of the daily run whose own day is ``day``."""
    s3, bucket = lake
    end = midnight(day + DAY) + timedelta(hours=4)
    return extract_window(
        client_for(strava, clock),
        s3,
        bucket,
        run_window(end, 7, FIRST),
        run_label=(end - DAY).strftime("%Y%m%dT%H%M%SZ"),
        details=DetailOptions(Budget(share), today=TODAY, streams=streams),
    )


def detail_calls(strava: StravaStandIn) -> list[int]:
    return [int(r.path.rsplit("/", 1)[1]) for r in strava.requests if DETAIL_PATH.fullmatch(r.path)]


def day_of(activity: dict[str, Any]) -> date:
    return datetime.fromisoformat(activity["start_date"]).astimezone(UTC).date()


def table_rows(lake: tuple[Any, str], table: str, day: date) -> list[dict[str, Any]]:
    s3, bucket = lake
    try:
        body = s3.get_object(Bucket=bucket, Key=day_table_key(table, day))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return pq.read_table(io.BytesIO(body)).to_pylist()


def window_activities(strava: StravaStandIn, day: date) -> list[dict[str, Any]]:
    first = day - 6 * DAY
    return [a for a in strava.activities if first <= day_of(a) <= day]


def test_a_full_sync_fetches_each_activity_once_and_a_rerun_none(standin, clock, versioned_lake):
    expected = window_activities(standin, LAST_SEEDED)
    first = run(standin, clock, versioned_lake, LAST_SEEDED, share=1)
    assert sorted(detail_calls(standin)) == sorted(a["id"] for a in expected)
    assert first.details["fetched"] == len(expected)
    assert first.details["pending"] == 0
    written = object_versions(*versioned_lake)
    standin.requests.clear()
    again = run(standin, clock, versioned_lake, LAST_SEEDED)
    assert detail_calls(standin) == []
    assert again.details["fetched"] == 0
    assert again.details["days"] == []
    assert object_versions(*versioned_lake) == written  # an unchanged day writes nothing


def test_the_day_tables_hold_what_the_detailed_views_say(standin, clock, lake):
    run(standin, clock, lake, LAST_SEEDED, share=1)
    for day in sorted({day_of(a) for a in window_activities(standin, LAST_SEEDED)}):
        activities = sorted(
            (a for a in standin.activities if day_of(a) == day), key=lambda a: (a["start_date"], a["id"])
        )
        views = [detailed_activity(a) for a in activities]
        details = table_rows(lake, "activity_details", day)
        assert [r["activity_id"] for r in details] == [a["id"] for a in activities]
        assert [r["calories"] for r in details] == [v["calories"] for v in views]
        assert [r["description"] for r in details] == [v["description"] for v in views]
        assert [r["gear_id"] for r in details] == [v.get("gear", {}).get("id") for v in views]
        assert [r["fingerprint"] for r in details] == [fingerprint(a) for a in activities]
        splits = table_rows(lake, "activity_splits", day)
        assert [(r["activity_id"], r["split"], r["moving_time_s"]) for r in splits] == [
            (v["id"], s["split"], s["moving_time"]) for v in views for s in v["splits_metric"]
        ]
        laps = table_rows(lake, "activity_laps", day)
        assert len(laps) == sum(len(v["laps"]) for v in views)
        efforts = table_rows(lake, "activity_best_efforts", day)
        assert [(r["activity_id"], r["name"]) for r in efforts] == [
            (v["id"], e["name"]) for v in views for e in v["best_efforts"]
        ]


def test_only_new_and_changed_activities_are_fetched_again(standin, clock, lake):
    run(standin, clock, lake, LAST_SEEDED, share=1)
    activities = window_activities(standin, LAST_SEEDED)
    renamed, cheered, deleted = activities[0], activities[1], activities[2]
    standin.edit(renamed["id"], name="Renamed")
    standin.edit(cheered["id"], kudos_count=cheered["kudos_count"] + 5)  # not in the fingerprint
    standin.delete(deleted["id"])
    template = {k: v for k, v in activities[3].items() if k != "id"}
    uploaded = standin.upload({**template, "start_date": f"{LAST_SEEDED}T05:00:00Z"})
    standin.requests.clear()
    result = run(standin, clock, lake, LAST_SEEDED)
    assert sorted(detail_calls(standin)) == sorted([renamed["id"], uploaded["id"]])
    assert result.details["fetched"] == 2
    held = {
        r["activity_id"]
        for day in {day_of(a) for a in activities}
        for r in table_rows(lake, "activity_details", day)
    }
    assert deleted["id"] not in held
    assert {renamed["id"], uploaded["id"], cheered["id"]} <= held


def test_a_short_15_minute_budget_leaves_a_backlog_the_next_run_drains_without_a_429(standin, clock, lake):
    s3, bucket = lake
    expected = window_activities(standin, LAST_SEEDED)
    assert len(expected) > 10
    gear_ids = {a["gear_id"] for a in expected if a["gear_id"]}
    # after the listing's 2 calls, less the margin of 2, half of what is left: the gear and 4 activities
    standin.set_usage(read_15min=100 - 2 - 2 - 2 * (len(gear_ids) + 4))
    first = run(standin, clock, lake, LAST_SEEDED, share=0.5)
    assert first.details["allowance"] == len(gear_ids) + 4
    assert first.details["gear_fetched"] == len(gear_ids)
    assert first.details["fetched"] == 4
    assert first.details["pending"] == len(expected) - 4
    oldest = min(day_of(a) for a in expected)
    assert first.details["oldest_pending"] == oldest.isoformat()
    # oldest first: the 4 fetched are the window's first 4 in day order
    in_order = sorted(expected, key=lambda a: (day_of(a), a["start_date"], a["id"]))
    assert detail_calls(standin) == [a["id"] for a in in_order[:4]]
    assert BACKLOG_KEY in list_objects(s3, bucket, "state/")

    clock.now = (clock.now // 900 + 1) * 900 + 30  # the next quarter hour
    standin.requests.clear()
    second = run(standin, clock, lake, LAST_SEEDED + DAY)  # the next day's run: no new activity
    assert second.details["fetched"] == len(expected) - 4
    assert second.details["pending"] == 0
    assert BACKLOG_KEY not in list_objects(s3, bucket, "state/")
    assert not [r for r in standin.requests if r.status == 429]
    held = {r["activity_id"] for a in expected for r in table_rows(lake, "activity_details", day_of(a))}
    assert held == {a["id"] for a in expected}


def test_a_backlog_day_that_left_the_window_is_still_drained(standin, clock, lake):
    expected = window_activities(standin, LAST_SEEDED)
    gear_ids = {a["gear_id"] for a in expected if a["gear_id"]}
    standin.set_usage(read_15min=100 - 2 - 2 - 2 * (len(gear_ids) + 2))  # the gear and 2 activities
    first = run(standin, clock, lake, LAST_SEEDED, share=0.5)
    assert first.details["pending"] == len(expected) - 2
    later = LAST_SEEDED + 10 * DAY  # its window holds none of the backlog's days
    clock.now = midnight(later + DAY).timestamp() + 5 * 3600
    second = run(standin, clock, lake, later, share=1)
    assert second.details["pending"] == 0
    held = {r["activity_id"] for a in expected for r in table_rows(lake, "activity_details", day_of(a))}
    assert held == {a["id"] for a in expected}


def test_streams_are_one_parquet_file_per_activity_and_follow_deletions(standin, clock, lake, strava_table):
    s3, bucket = lake
    keys = ("time", "distance", "heartrate", "latlng")
    run(standin, clock, lake, LAST_SEEDED, share=1, streams=keys)
    activities = window_activities(standin, LAST_SEEDED)
    calls = [r for r in standin.requests if STREAMS_PATH.fullmatch(r.path)]
    assert len(calls) == len(activities)
    victim = activities[0]
    files = list_objects(s3, bucket, stream_prefix(day_of(victim)))
    assert any(f"/{victim['id']}-" in key for key in files)
    body = s3.get_object(Bucket=bucket, Key=next(k for k in files if f"/{victim['id']}-" in k))["Body"].read()
    points = pq.read_table(io.BytesIO(body)).to_pylist()
    assert points[-1]["time_s"] == victim["elapsed_time"]
    assert {r["activity_id"] for r in points} == {victim["id"]}
    # the streams table, as the DAG creates it with strava.streams set
    database = strava_table.params["database"]
    strava_table.create_detail_table("activity_streams", bucket, FIRST)
    found = athena_rows(
        f"SELECT count(*), max(time_s) FROM {database}.activity_streams "  # noqa: S608
        f"WHERE dt = '{day_of(victim)}' AND activity_id = {victim['id']}"
    )
    assert found == [[str(len(points)), str(victim["elapsed_time"])]]
    standin.delete(victim["id"])
    run(standin, clock, lake, LAST_SEEDED, share=1, streams=keys)
    assert not any(
        f"/{victim['id']}-" in key for key in list_objects(s3, bucket, stream_prefix(day_of(victim)))
    )


def test_gear_is_fetched_once_per_id(standin, clock, lake):
    s3, bucket = lake
    run(standin, clock, lake, LAST_SEEDED, share=1)
    gear_ids = {a["gear_id"] for a in window_activities(standin, LAST_SEEDED) if a["gear_id"]}
    gear_calls = [r.path for r in standin.requests if r.path.startswith("/api/v3/gear/")]
    assert sorted(gear_calls) == sorted(f"/api/v3/gear/{g}" for g in gear_ids)
    body = s3.get_object(Bucket=bucket, Key="curated/strava/gear/gear.parquet")["Body"].read()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert [r["gear_id"] for r in rows] == sorted(gear_ids)
    assert all(r["name"] for r in rows)
    standin.requests.clear()
    run(standin, clock, lake, LAST_SEEDED + DAY, share=1)
    assert not [r for r in standin.requests if r.path.startswith("/api/v3/gear/")]


def test_every_day_table_has_its_object_for_a_day_with_activities(standin, clock, lake):
    s3, bucket = lake
    run(standin, clock, lake, LAST_SEEDED, share=1)
    for day in {day_of(a) for a in window_activities(standin, LAST_SEEDED)}:
        for table in DAY_TABLES:
            assert day_table_key(table.name, day) in list_objects(s3, bucket, f"curated/strava/{table.name}/")


def test_the_detail_tables_answer_in_athena_as_the_dag_creates_them(standin, clock, lake, strava_table):
    _s3, bucket = lake
    run(standin, clock, lake, LAST_SEEDED, share=1)
    database = strava_table.params["database"]
    for table in ("activity_details", "activity_laps", "activity_splits", "activity_best_efforts", "gear"):
        strava_table.create_detail_table(table, bucket, FIRST)
    activities = window_activities(standin, LAST_SEEDED)
    per_day = Counter(day_of(a).isoformat() for a in activities)
    assert athena_rows(
        f"SELECT dt, count(*) FROM {database}.activity_details GROUP BY dt ORDER BY dt"  # noqa: S608
    ) == [[day, str(n)] for day, n in sorted(per_day.items())]
    splits = sum(len(detailed_activity(a)["splits_metric"]) for a in activities)
    assert athena_rows(f"SELECT count(*) FROM {database}.activity_splits") == [[str(splits)]]  # noqa: S608
    gear = athena_rows(f"SELECT gear_id, name FROM {database}.gear ORDER BY gear_id")  # noqa: S608
    assert [g for g, _name in gear] == sorted({a["gear_id"] for a in activities if a["gear_id"]})


def test_a_day_whose_details_changed_is_in_the_asset_event_when_it_is_in_the_window():
    from datalake.strava import tasks as strava_tasks

    end = midnight(LAST_SEEDED + DAY) + timedelta(hours=4)
    window = run_window(end, 7, FIRST)
    inside, outside = window.first.isoformat(), (window.first - 3 * DAY).isoformat()
    extracted = {"days": [window.last.isoformat()], "details": {"days": [outside, inside]}}
    # a backlog day drained after it left the window is no day of this run's event
    assert strava_tasks.asset_extra(extracted, end) == {"days": [inside, window.last.isoformat()]}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("details", "true", "must be true or false, unquoted"),
        ("details_budget_share", 0, "must be a fraction above 0 and at most 1"),
        ("details_budget_share", 1.5, "must be a fraction above 0 and at most 1"),
        ("streams", ["time", "speed"], "[1]: must be one of time, distance"),
        ("gear_refresh_days", 0, "must be a whole number of days from 1 to 366"),
    ],
)
def test_a_bad_details_key_is_refused_by_name(key, value, message):
    import copy

    import yaml

    from datalake.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config

    raw = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    raw["strava"][key] = value
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert f"strava.{key}" in str(refused.value)
    assert message in str(refused.value)


def test_streams_without_details_are_refused():
    import copy

    import yaml

    from datalake.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config

    raw = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    raw["strava"].update(details=False, streams=["heartrate"])
    with pytest.raises(ConfigError, match=r"strava\.streams: are fetched with the details"):
        parse_config(raw)
    raw["strava"]["details"] = True
    assert parse_config(raw).strava.streams == ("heartrate",)


def test_a_raw_detail_and_a_stream_file_are_named_by_id_and_fingerprint_and_read_back() -> None:
    from datalake.strava.layout import detail_raw_key, parse_detail_name, stream_key

    day = date(2026, 1, 2)
    for key in (detail_raw_key(day, 42, "0123456789abcdef"), stream_key(day, 42, "0123456789abcdef")):
        assert "/dt=2026-01-02/42-0123456789abcdef." in key
        assert parse_detail_name(key) == (42, "0123456789abcdef")
    for make in (detail_raw_key, stream_key):
        with pytest.raises(ValueError, match=re.escape("16 hex digits, got 'x/../y'")):
            make(day, 42, "x/../y")
