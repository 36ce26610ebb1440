"""The reconciliation over real HTTP: the Strava stand-in, the local S3 and the Athena that runs SQL.

Each run lists its window once and makes each day of it the snapshot Strava lists; the table follows.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from datalake.strava.client import StravaClient
from datalake.strava.errors import StravaSchemaError
from datalake.strava.extract import ExtractResult, extract_window
from datalake.strava.layout import (
    CURATED_PREFIX,
    DIGEST_METADATA,
    LISTING_METADATA,
    RAW_PREFIX,
    curated_key,
    raw_key,
    raw_prefix,
    run_label,
)
from datalake.strava.tokens import exchange_refresh_token
from datalake.strava.window import midnight, run_window
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import END, StravaTable, athena_rows, list_objects, object_versions

DAY = timedelta(days=1)
FIRST = "2025-01-01"  # strava.start_date of these runs


def client_for(standin: StravaStandIn, session: requests.Session | None = None) -> StravaClient:
    tokens = exchange_refresh_token(
        standin.base_url, standin.client_id, standin.client_secret, standin.refresh_token, conn_id="test"
    )
    assert tokens.access_token
    return StravaClient(standin.base_url, tokens.access_token, session=session)


def interval_end(day: date) -> datetime:
    """The end of the 04:00 UTC run whose own day is ``day``."""
    return midnight(day + DAY) + timedelta(hours=4)


def run(
    standin: StravaStandIn,
    lake: tuple[Any, str],
    day: date,
    *,
    reconcile_days: int = 7,
    per_page: int = 200,
    session: requests.Session | None = None,
) -> ExtractResult:
    """The extraction of the daily run whose own day is ``day``."""
    s3, bucket = lake
    end = interval_end(day)
    return extract_window(
        client_for(standin, session),
        s3,
        bucket,
        run_window(end, reconcile_days, FIRST),
        run_label=run_label(end - DAY),
        per_page=per_page,
    )


def day_of(activity: dict[str, Any]) -> date:
    return datetime.fromisoformat(activity["start_date"]).astimezone(UTC).date()


def strava_day(standin: StravaStandIn, day: date) -> list[dict[str, Any]]:
    """What the stand-in holds for ``day``, in the day's order (start, then id)."""
    return sorted(
        (a for a in standin.activities if day_of(a) == day), key=lambda a: (a["start_date"], a["id"])
    )


def lake_day(s3: Any, bucket: str, day: date) -> list[dict[str, Any]] | None:
    """The rows of ``day``'s object, or None when the day has none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=curated_key(day))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return pq.read_table(io.BytesIO(body)).to_pylist()


def summary(activities: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a reader sees of each activity, from Strava's JSON: id, name, sport type, privacy."""
    return [(a["id"], a["name"], a["sport_type"], a["private"]) for a in activities]


def rows_summary(rows: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    return [(r["id"], r["name"], r["sport_type"], r["private"]) for r in rows or []]


def seeded_days(standin: StravaStandIn) -> list[date]:
    return sorted({day_of(a) for a in standin.activities})


def raw_lines(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def test_every_activity_lands_once_in_the_snapshot_of_its_utc_day(strava, lake) -> None:
    s3, bucket = lake
    last = END.date() - DAY
    result = run(strava, lake, last, per_page=7)
    days = seeded_days(strava)
    assert days[0] >= last - 6 * DAY  # the window holds every seeded day
    for day in days:
        assert rows_summary(lake_day(s3, bucket, day)) == summary(strava_day(strava, day))
    assert result.days == [d.isoformat() for d in days]
    assert result.rows == len(strava.activities) == sum(result.rows_by_day.values())
    assert result.rows_by_day == {
        (last - DAY * i).isoformat(): len(strava_day(strava, last - DAY * i)) for i in range(7)
    }
    ids = [r["id"] for key in list_objects(s3, bucket, CURATED_PREFIX) for r in lake_day_key(s3, bucket, key)]
    assert Counter(ids) == Counter(a["id"] for a in strava.activities)
    # the listing was one pass from the window's first day 00:00 to its last day's end
    lists = [r for r in strava.requests if r.path == "/api/v3/athlete/activities"]
    assert {(r.query["after"], r.query["before"]) for r in lists} == {
        (str(int(midnight(last - 6 * DAY).timestamp()) - 1), str(int(midnight(last + DAY).timestamp())))
    }
    assert [int(r.query["page"]) for r in lists] == list(range(1, len(lists) + 1))


def lake_day_key(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()


def test_running_the_same_day_again_writes_nothing(strava, versioned_lake) -> None:
    s3, bucket = versioned_lake
    day = END.date() - DAY
    first = run(strava, versioned_lake, day, per_page=3)
    written = object_versions(s3, bucket)
    second = run(strava, versioned_lake, day, per_page=3)
    assert object_versions(s3, bucket) == written  # not one PUT or DELETE
    assert first.days
    assert first.raw_key
    assert (second.days, second.raw_key, second.rows) == ([], None, first.rows)


def test_a_quiet_day_writes_no_object_and_makes_the_list_calls_of_the_floor(strava, versioned_lake) -> None:
    s3, bucket = versioned_lake
    run(strava, versioned_lake, END.date() - DAY)
    written = object_versions(s3, bucket)
    quiet = run(strava, versioned_lake, END.date())  # nothing new, nothing changed
    assert object_versions(s3, bucket) == written
    listed = sum(quiet.rows_by_day.values())
    assert 0 < listed <= 200
    assert quiet.api_calls == math.ceil(listed / 200) + 1 == 2  # one page and the empty page
    assert quiet.days == []


def test_late_upload_deletion_rename_and_sport_type_change_show_in_the_table_after_the_next_run(
    strava, lake, strava_table: StravaTable
) -> None:
    days = seeded_days(strava)
    first_day = days[-1] - DAY  # the first run's own day: the last seeded day comes after it
    run(strava, lake, first_day)
    strava_table.register_window(interval_end(first_day))
    busy = [d for d in days if len(strava_day(strava, d)) >= 2 and d <= first_day]
    late_day, deleted_day, renamed_day, retyped_day = first_day, busy[0], busy[1], busy[2]

    template = {k: v for k, v in strava_day(strava, late_day)[0].items() if k != "id"}
    late = strava.upload({**template, "start_date": f"{late_day}T23:30:00Z", "name": "Synced late"})
    deleted = strava_day(strava, deleted_day)[0]["id"]
    strava.delete(deleted)
    renamed = strava_day(strava, renamed_day)[0]["id"]
    strava.edit(renamed, name="Renamed in Strava")
    retyped = strava_day(strava, retyped_day)[-1]["id"]
    strava.edit(retyped, sport_type="TrailRun", type="Run")

    result = run(strava, lake, first_day + DAY)
    strava_table.register_window(interval_end(first_day + DAY))
    assert set(result.days) == {d.isoformat() for d in (late_day, deleted_day, renamed_day, retyped_day)} | {
        days[-1].isoformat()  # the new day of this run
    }
    window = [first_day + DAY - DAY * i for i in range(7)]
    table = athena_rows(
        f"SELECT dt, id, name, sport_type FROM {strava_table.name} "  # noqa: S608 - the test's own names
        f"WHERE dt BETWEEN '{min(window)}' AND '{max(window)}' ORDER BY dt, start_date, id"
    )
    expected = [
        [d.isoformat(), str(a["id"]), a["name"], a["sport_type"]]
        for d in sorted(window)
        for a in strava_day(strava, d)
    ]
    assert table == expected
    found = {int(row[1]): row for row in table}
    assert found[late["id"]][2] == "Synced late"
    assert deleted not in found
    assert found[renamed][2] == "Renamed in Strava"
    assert found[retyped][3] == "TrailRun"


def test_a_change_older_than_the_window_is_left_alone(strava, lake) -> None:
    s3, bucket = lake
    days = seeded_days(strava)
    run(strava, lake, days[-1])  # every seeded day is in this first window
    old = days[0]
    before = lake_day(s3, bucket, old)
    strava.edit(strava_day(strava, old)[0]["id"], name="Renamed much later")
    strava.delete(strava_day(strava, old)[-1]["id"])
    result = run(strava, lake, days[-1], reconcile_days=2)  # the window no longer reaches ``old``
    assert old.isoformat() not in result.rows_by_day
    assert lake_day(s3, bucket, old) == before
    assert rows_summary(before) != summary(strava_day(strava, old))
    # and clearing the run of that day (or backfilling it) brings it back in line
    run(strava, lake, old)
    assert rows_summary(lake_day(s3, bucket, old)) == summary(strava_day(strava, old))


def test_a_day_whose_activities_are_all_deleted_has_no_object_and_reads_as_no_rows(
    strava, lake, strava_table: StravaTable
) -> None:
    s3, bucket = lake
    day = END.date() - DAY
    run(strava, lake, day)
    emptied = seeded_days(strava)[2]
    for activity in strava_day(strava, emptied):
        strava.delete(activity["id"])
    result = run(strava, lake, day)
    strava_table.register_window(interval_end(day))
    assert result.days == [emptied.isoformat()]
    assert result.rows_by_day[emptied.isoformat()] == 0
    assert lake_day(s3, bucket, emptied) is None
    assert athena_rows(f"SELECT count(*) FROM {strava_table.name} WHERE dt = '{emptied}'") == [["0"]]  # noqa: S608


def test_the_raw_layer_keeps_each_listing_as_strava_returned_it(strava, lake) -> None:
    s3, bucket = lake
    day = END.date() - DAY
    for activity in strava.activities:
        activity["brand_new_field"] = {"nested": [1, 2]}
    first = run(strava, lake, day, per_page=9)
    assert first.raw_key is not None
    assert first.raw_key.startswith(raw_prefix(run_label(interval_end(day) - DAY)))
    listed = raw_lines(s3, bucket, first.raw_key)
    oldest_first = sorted(strava.activities, key=lambda a: (a["start_date"], a["id"]))
    assert listed == oldest_first  # every item of every page, every field, in the order Strava sent them
    # the day's object names the listing it was cut from
    head = s3.head_object(Bucket=bucket, Key=curated_key(day_of(listed[0])))
    assert head["Metadata"][LISTING_METADATA] == first.raw_key
    assert len(head["Metadata"][DIGEST_METADATA]) == 64

    # the same run listed again after a change keeps both answers; the next run has its own
    strava.edit(listed[0]["id"], name="Edited")
    again = run(strava, lake, day, per_page=9)
    following = strava.edit(listed[1]["id"], name="Edited too")
    later = run(strava, lake, day + DAY)
    keys = sorted(list_objects(s3, bucket, RAW_PREFIX))
    assert sorted([first.raw_key, again.raw_key, later.raw_key]) == keys
    assert len(set(keys)) == 3
    assert {line["name"] for line in raw_lines(s3, bucket, str(later.raw_key))} >= {
        "Edited",
        following["name"],
    }


def test_an_edit_of_a_field_the_table_does_not_hold_still_reaches_the_raw_layer(strava, lake) -> None:
    s3, bucket = lake
    day = END.date() - DAY
    run(strava, lake, day)
    edited = strava.activities[0]
    strava.edit(edited["id"], location_country="Narnia")  # the table has no such column
    result = run(strava, lake, day)
    assert result.days == [day_of(edited).isoformat()]
    assert result.raw_key is not None
    assert {line["id"]: line for line in raw_lines(s3, bucket, result.raw_key)}[edited["id"]][
        "location_country"
    ] == "Narnia"


def test_pages_shorter_than_per_page_before_the_end_lose_nothing(strava, lake) -> None:
    s3, bucket = lake
    strava.set_short_pages(True)
    result = run(strava, lake, END.date() - DAY, per_page=6)
    assert result.rows == len(strava.activities)
    for day in seeded_days(strava):
        assert rows_summary(lake_day(s3, bucket, day)) == summary(strava_day(strava, day))


class UploadAfterFirstPage(requests.Session):
    """A session that, once the first page is answered, has the athlete upload an activity that starts
    before everything listed: the oldest-first pages shift by one, and page 2 repeats page 1's last."""

    def __init__(self, standin: StravaStandIn, activity: dict[str, Any]) -> None:
        super().__init__()
        self.standin, self.activity, self.pages = standin, activity, 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        answer = super().request(method, url, *args, **kwargs)
        if url.endswith("/athlete/activities"):
            self.pages += 1
            if self.pages == 1:
                self.standin.upload(self.activity)
        return answer


def test_an_activity_listed_twice_while_pages_shift_counts_once(strava, lake) -> None:
    s3, bucket = lake
    day = END.date() - DAY
    first_day = seeded_days(strava)[0]
    early = {**strava_day(strava, first_day)[0], "start_date": f"{first_day}T00:00:01Z", "name": "Early"}
    del early["id"]
    result = run(strava, lake, day, per_page=5, session=UploadAfterFirstPage(strava, early))
    assert result.duplicates_skipped == 1
    ids = [r["id"] for key in list_objects(s3, bucket, CURATED_PREFIX) for r in lake_day_key(s3, bucket, key)]
    assert len(ids) == len(set(ids))
    # the upload came after its place in the listing: the next run adds it
    run(strava, lake, day)
    assert rows_summary(lake_day(s3, bucket, first_day)) == summary(strava_day(strava, first_day))


def test_a_wrong_type_fails_naming_activity_and_field_and_leaves_the_lake_as_it_was(strava, lake) -> None:
    s3, bucket = lake
    day = END.date() - DAY
    run(strava, lake, day)
    before = list_objects(s3, bucket)
    victim = strava.activities[len(strava.activities) // 2]
    strava.edit(victim["id"], moving_time="forty minutes", name="Broken")
    with pytest.raises(StravaSchemaError, match=rf"activity {victim['id']}: field 'moving_time'"):
        run(strava, lake, day)
    assert list_objects(s3, bucket) == before  # nothing written, not even the raw listing


def test_keys_are_deterministic_and_refuse_what_is_not_a_label_or_digest() -> None:
    assert curated_key(date(2026, 3, 4)) == f"{CURATED_PREFIX}/dt=2026-03-04/activities.parquet"
    # a moment stands for its UTC day
    assert curated_key(datetime(2026, 3, 4, 23, 30, tzinfo=UTC)) == curated_key(date(2026, 3, 4))
    label = run_label(datetime(2026, 3, 4, 4, tzinfo=UTC))
    assert raw_key(label, "ab" * 32) == f"{RAW_PREFIX}/run=20260304T040000Z/activities-{'ab' * 8}.jsonl.gz"
    with pytest.raises(ValueError, match="run label"):
        raw_prefix("2026-03-04/../x")
    with pytest.raises(ValueError, match="digest"):
        raw_key(label, "not hex")
