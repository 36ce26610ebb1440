"""Each summary query gives the known answer on generated data, through the stack's Athena.

Expected answers are computed in plain Python from the same pyarrow tables the tables were written
from; the SQL files are rendered exactly as the DAG renders them (queries.render_query).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from datalake.reports.queries import inventory_values, render_query, strava_values
from datalake.reports.render import render_report, utc_timestamp

from .conftest import BUCKET, DAY_1, DAY_2, OLDEST_MS, STRAVA_DDL, generate_activities, put_parquet

REPORT_DAY = "2026-11-20"


def current(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["is_latest"] and not r["is_delete_marker"]]


def per_class(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"objects": 0, "bytes": 0})
    for r in current(rows):
        out[r["storage_class"]]["objects"] += 1
        out[r["storage_class"]]["bytes"] += r["size"]
    return dict(out)


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture(scope="module")
def inv(test_config):
    return test_config.inventories[0]


def test_storage_classes_count_objects_bytes_folders_and_oldest_newest(
    athena, inventory_tables, inv, test_config
):
    rows = inventory_tables[DAY_2].to_pylist()
    result, _ = athena.run(
        render_query("inventory_storage_classes", inventory_values(test_config, inv, DAY_2, DAY_1))
    )
    got = {r["storage_class"]: r for r in result}
    expected = per_class(rows)
    assert {k: {"objects": v["objects"], "bytes": v["bytes"]} for k, v in got.items()} == expected
    for storage_class, r in got.items():
        mine = [x for x in current(rows) if x["storage_class"] == storage_class]
        oldest = min(x["last_modified_date"] for x in mine)
        newest = max(x["last_modified_date"] for x in mine)
        assert utc_timestamp(r["oldest_modified"]) == utc(oldest)
        assert utc_timestamp(r["newest_modified"]) == utc(newest)
        assert r["oldest_key"] in {x["key"] for x in mine if x["last_modified_date"] == oldest}
        assert r["folder_objects"] == sum(1 for x in mine if x["size"] == 0 and x["key"].endswith("/"))
    assert sum(r["folder_objects"] for r in result) > 0
    # the known timestamp: epoch milliseconds 1620147401000 is 2021-05-04 16:56:41 UTC
    assert OLDEST_MS in {x["last_modified_date"] for x in current(rows)}
    assert "2021-05-04 16:56:41 UTC" in {utc_timestamp(r["oldest_modified"]) for r in result}


def test_versions_count_noncurrent_versions_and_delete_markers_with_bytes(
    athena, inventory_tables, inv, test_config
):
    rows = inventory_tables[DAY_2].to_pylist()
    result, _ = athena.run(
        render_query("inventory_versions", inventory_values(test_config, inv, DAY_2, DAY_1))
    )
    noncurrent = [r for r in rows if not r["is_latest"] and not r["is_delete_marker"]]
    markers = [r for r in rows if r["is_delete_marker"]]
    assert noncurrent
    assert markers
    assert result == [
        {
            "current_objects": len(current(rows)),
            "current_bytes": sum(r["size"] for r in current(rows)),
            "noncurrent_versions": len(noncurrent),
            "noncurrent_bytes": sum(r["size"] for r in noncurrent),
            "delete_markers": len(markers),
            "delete_marker_bytes": 0,
        }
    ]


def test_encryption_and_prefixes_split_the_bytes(athena, inventory_tables, inv, test_config):
    rows = current(inventory_tables[DAY_2].to_pylist())
    values = inventory_values(test_config, inv, DAY_2, DAY_1)
    encryption, _ = athena.run(render_query("inventory_encryption", values))
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        expected[(r["storage_class"], r["encryption_status"])][0] += 1
        expected[(r["storage_class"], r["encryption_status"])][1] += r["size"]
    got = {(r["storage_class"], r["encryption_status"]): [r["objects"], r["bytes"]] for r in encryption}
    assert got == dict(expected)

    prefixes, _ = athena.run(render_query("inventory_prefixes", values))
    by_prefix: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        prefix = r["key"].split("/")[0] + "/" if "/" in r["key"] else "(top level)"
        by_prefix[prefix][0] += 1
        by_prefix[prefix][1] += r["size"]
    assert {r["prefix"]: [r["objects"], r["bytes"]] for r in prefixes} == dict(by_prefix)
    assert [r["bytes"] for r in prefixes] == sorted((r["bytes"] for r in prefixes), reverse=True)


def test_a_summary_reads_only_its_partition(athena, inventory_tables, inv, s3, test_config):
    """Bytes scanned by one drop's summary stay below that drop's data (the history is not read)."""
    _, execution = athena.run(
        render_query("inventory_storage_classes", inventory_values(test_config, inv, DAY_2, DAY_1))
    )
    scanned = execution["Statistics"]["DataScannedInBytes"]
    one_drop = s3.head_object(Bucket=BUCKET, Key=f"media_daily/dt={DAY_2}/part-0.parquet")["ContentLength"]
    assert 0 < scanned <= one_drop


def _volume(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "activities": len(rows),
        "distance_km": sum(r["distance_m"] for r in rows) / 1000,
        "moving_hours": sum(r["moving_time_s"] for r in rows) / 3600,
        "elevation_m": sum(r["total_elevation_gain_m"] for r in rows),
    }


def _close(got: dict[str, Any], expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_strava_weekly_volume_per_iso_week_and_sport(athena, strava_table, test_config):
    values = strava_values(test_config, REPORT_DAY)
    result, _ = athena.run(render_query("strava_weekly", values))
    start = date.fromisoformat(values["weeks_from"])
    end = date.fromisoformat(REPORT_DAY)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in strava_table.to_pylist():
        day = r["start_date"].date()
        if start <= day <= end:
            monday = day - timedelta(days=day.weekday())
            groups[(monday.isoformat(), r["sport_type"])].append(r)
    assert groups
    got = {(str(r["week_start"])[:10], r["sport_type"]): r for r in result}
    assert set(got) == set(groups)
    for key, rows in groups.items():
        _close(got[key], _volume(rows))
    assert start.weekday() == 0
    assert (end - start).days < 12 * 7


def test_strava_year_to_date_against_last_year_to_date(athena, strava_table, test_config):
    result, _ = athena.run(render_query("strava_year_to_date", strava_values(test_config, REPORT_DAY)))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in strava_table.to_pylist():
        d = r["start_date"].date()
        if date(2026, 1, 1) <= d <= date(2026, 11, 20):
            groups[("this_year", r["sport_type"])].append(r)
        elif date(2025, 1, 1) <= d <= date(2025, 11, 20):
            groups[("last_year", r["sport_type"])].append(r)
    got = {(r["period"], r["sport_type"]): r for r in result}
    assert set(got) == set(groups)
    assert {p for p, _ in got} == {"this_year", "last_year"}
    for key, rows in groups.items():
        _close(got[key], _volume(rows))


def test_strava_longest_activities_of_the_last_twelve_months(athena, strava_table, test_config):
    result, _ = athena.run(render_query("strava_longest", strava_values(test_config, REPORT_DAY)))
    window = [
        r
        for r in strava_table.to_pylist()
        if date(2025, 11, 21) <= r["start_date"].date() <= date(2026, 11, 20)
    ]
    expected = sorted(window, key=lambda r: (-r["distance_m"], r["id"]))[:10]
    assert [r["id"] for r in result] == [r["id"] for r in expected]
    assert result[0]["distance_km"] == pytest.approx(expected[0]["distance_m"] / 1000)
    assert result[0]["moving_hours"] == pytest.approx(expected[0]["moving_time_s"] / 3600)
    assert utc_timestamp(result[0]["start_date"]) == expected[0]["start_date"].strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


def test_an_activity_without_a_sport_type_is_summarised_and_rendered_under_its_own_name(
    athena, s3, test_config
):
    """Through the real SQL and the renderer: a NULL sport type sorted with named ones used to crash."""
    database = "strava_no_sport_type"
    table = generate_activities(seed=5).slice(0, 3)
    rows = table.to_pylist()
    day = date(2026, 11, 18)
    for i, row in enumerate(rows):  # three activities this week, one of them without a sport type
        row["start_date"] = datetime(2026, 11, 16 + i, 7, tzinfo=UTC)
    rows[1]["sport_type"] = None
    ddl = STRAVA_DDL.format(db=database, bucket=BUCKET).replace("/activities/'", "/no-sport-type/'")
    athena.run(f"CREATE DATABASE IF NOT EXISTS {database}")
    athena.run(ddl)
    for row in rows:
        dt = row["start_date"].date().isoformat()
        put_parquet(
            s3, f"no-sport-type/dt={dt}/part-0.parquet", pa.Table.from_pylist([row], schema=table.schema)
        )
        athena.run(
            f"ALTER TABLE {database}.activities ADD IF NOT EXISTS PARTITION (dt = '{dt}') "
            f"LOCATION 's3://{BUCKET}/no-sport-type/dt={dt}/'"
        )
    config = dataclasses.replace(
        test_config, strava=dataclasses.replace(test_config.strava, database=database)
    )
    values = strava_values(config, day.isoformat())
    results = {
        name: athena.run(render_query(name, values))[0]
        for name in ("strava_weekly", "strava_year_to_date", "strava_longest")
    }

    for name, found in results.items():
        assert "(no sport type)" in {r["sport_type"] for r in found}, name
        assert None not in {r["sport_type"] for r in found}, name
    page = render_report(
        {
            "day": day.isoformat(),
            "sources": {
                "strava": {"kind": "strava", "title": "Training", "values": values, "results": results}
            },
        }
    )
    assert page.count("(no sport type)") >= 4  # legend, weekly row, year-to-date row, longest activity
    assert rows[1]["name"] in page
