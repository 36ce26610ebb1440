"""The report's detail summaries (distance per gear, calories per week): known answers computed in Python
from the stand-in's activities, against the SQL run by the local Athena over what a run landed."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from datalake.config import get_config
from datalake.reports.queries import STRAVA_DETAIL_QUERIES, render_query, strava_queries, strava_values
from datalake.reports.render import render_report
from datalake.strava.budget import Budget
from datalake.strava.details import DetailOptions
from datalake.strava.extract import extract_window
from datalake.strava.window import midnight, run_window
from devstack.strava_api import StravaStandIn, seed_activities
from devstack.strava_details import calories, gear_name
from tests.clock import FakeClock
from tests.strava.conftest import END, athena_rows
from tests.strava.test_details import client_for

DAY = timedelta(days=1)
FIRST = "2025-01-01"
REPORT_DAY = (END - DAY).date()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(END.timestamp() + 86400)


@pytest.fixture
def standin(clock: FakeClock) -> Iterator[StravaStandIn]:
    # 60 activities over the 20 days before END: three ISO weeks, every gear of the seed
    with StravaStandIn(seed_activities(60, seed=11, end=END, days=20), clock=clock) as strava:
        yield strava


def start(activity: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(activity["start_date"]).astimezone(UTC)


@pytest.fixture
def landed(standin, clock, lake, strava_table) -> dict[str, str]:
    """Three weekly runs with details, their partitions and the detail tables: the summaries' values."""
    s3, bucket = lake
    for day in (REPORT_DAY - 14 * DAY, REPORT_DAY - 7 * DAY, REPORT_DAY):
        end = midnight(day + DAY) + timedelta(hours=4)
        extract_window(
            client_for(standin, clock),
            s3,
            bucket,
            run_window(end, 7, FIRST),
            run_label=(end - DAY).strftime("%Y%m%dT%H%M%SZ"),
            details=DetailOptions(Budget(1), today=date(2026, 11, 25)),
        )
        strava_table.register_window(end)
    database = strava_table.params["database"]
    for table in ("activity_details", "gear"):
        strava_table.create_detail_table(table, bucket, FIRST)
    config = get_config()
    return strava_values(
        dataclasses.replace(config, strava=dataclasses.replace(config.strava, database=database)),
        REPORT_DAY.isoformat(),
    )


def test_distance_per_gear_sums_every_activity_with_its_gear_and_names_it(standin, landed):
    found = athena_rows(render_query("strava_gear_distance", landed))
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for activity in standin.activities:
        if activity["gear_id"] and start(activity).date() <= REPORT_DAY:
            expected[activity["gear_id"]].append(activity)
    assert len(expected) >= 3
    ranked = sorted(expected, key=lambda g: (-sum(a["distance"] for a in expected[g]), g))
    assert [row[0] for row in found] == ranked
    for gear_id, name, kind, count, km, km_12m, last_used in found:
        activities = expected[gear_id]
        assert name == " ".join(gear_name(gear_id))
        assert kind == {"g": "shoes", "b": "bike"}[gear_id[0]]
        assert int(count) == len(activities)
        assert float(km) == pytest.approx(sum(a["distance"] for a in activities) / 1000)
        assert float(km_12m) == pytest.approx(float(km))  # all of them in the last twelve months
        assert last_used.startswith(max(start(a) for a in activities).strftime("%Y-%m-%d %H:%M:%S"))


def test_calories_per_week_sum_the_detailed_views_estimates(standin, landed):
    found = athena_rows(render_query("strava_calories_weekly", landed))
    weeks: dict[str, list[float]] = defaultdict(list)
    first = date.fromisoformat(landed["weeks_from"])
    for activity in standin.activities:
        day = start(activity).date()
        if first <= day <= REPORT_DAY:
            weeks[(day - timedelta(days=day.weekday())).isoformat()].append(calories(activity))
    assert len(weeks) >= 3
    assert [row[0] for row in found] == sorted(weeks)
    for week, count, without, kcal in found:
        assert int(count) == len(weeks[week])
        assert int(without) == 0
        assert float(kcal) == pytest.approx(sum(weeks[week]))


def test_the_report_shows_both_sections_with_details_on(standin, landed):
    results: dict[str, list[dict[str, Any]]] = {}
    gear_rows = athena_rows(render_query("strava_gear_distance", landed))
    names = ("gear_id", "gear_name", "kind", "activities", "distance_km", "distance_12m_km", "last_used")
    results["strava_gear_distance"] = [
        dict(zip(names, (g, n, k, int(c), float(d), float(d12), last), strict=True))
        for g, n, k, c, d, d12, last in gear_rows
    ]
    results["strava_calories_weekly"] = [
        {"week_start": w, "activities": int(c), "without_calories": int(x), "calories": float(k)}
        for w, c, x, k in athena_rows(render_query("strava_calories_weekly", landed))
    ]
    page = render_report(
        {
            "day": REPORT_DAY.isoformat(),
            "sources": {
                "strava": {"kind": "strava", "title": "Training", "values": landed, "results": results}
            },
        }
    )
    assert "Distance per gear" in page
    assert "Calories per week" in page
    for row in results["strava_gear_distance"]:
        assert row["gear_name"] in page


def test_the_detail_summaries_run_only_with_details_on():
    config = get_config()
    assert config.strava.details  # the embedded stack's configuration
    assert set(STRAVA_DETAIL_QUERIES) <= set(strava_queries(config))
    off = dataclasses.replace(config, strava=dataclasses.replace(config.strava, details=False))
    assert not set(STRAVA_DETAIL_QUERIES) & set(strava_queries(off))
