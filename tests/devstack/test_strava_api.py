"""The Strava API stand-in behaves as Strava documents it, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from devstack.strava_api import (
    ACCESS_TOKEN_INVALID,
    MAX_PER_PAGE,
    RATE_LIMIT_EXCEEDED,
    REFRESH_TOKEN_INVALID,
    StravaStandIn,
    seed_activities,
)
from tests.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
T0 = END.timestamp() + 60  # 12:01 UTC: mid 15-minute window
TIMEOUT = 10
FACTS_FIELDS = {
    "id", "name", "distance", "moving_time", "elapsed_time", "total_elevation_gain", "type", "sport_type",
    "start_date", "start_date_local", "timezone", "utc_offset", "achievement_count", "kudos_count",
    "comment_count", "athlete_count", "photo_count", "trainer", "commute", "manual", "private", "visibility",
    "gear_id", "start_latlng", "end_latlng", "average_speed", "max_speed", "has_heartrate", "elev_high",
    "elev_low", "upload_id", "external_id", "map", "athlete", "workout_type", "pr_count",
    "total_photo_count", "has_kudoed", "resource_state", "average_heartrate", "max_heartrate",
    "average_watts", "kilojoules", "device_watts",
}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def strava(clock: FakeClock) -> Iterator[StravaStandIn]:
    with StravaStandIn(seed_activities(150, seed=3, end=END, days=60), clock=clock) as standin:
        yield standin


def refresh(strava: StravaStandIn, refresh_token: str | None = None, **overrides: str) -> requests.Response:
    form = {
        "client_id": strava.client_id,
        "client_secret": strava.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token or strava.refresh_token,
        **overrides,
    }
    return requests.post(f"{strava.base_url}/oauth/token", data=form, timeout=TIMEOUT)


def access_token(strava: StravaStandIn) -> str:
    answer = refresh(strava)
    answer.raise_for_status()
    return answer.json()["access_token"]


def list_page(strava: StravaStandIn, token: str, **params: int) -> requests.Response:
    return requests.get(
        f"{strava.base_url}/api/v3/athlete/activities",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def all_pages(strava: StravaStandIn, token: str, **params: int) -> list[list[dict]]:
    pages, page = [], 1
    while True:
        answer = list_page(strava, token, page=page, **params)
        answer.raise_for_status()
        if not answer.json():
            return pages
        pages.append(answer.json())
        page += 1


# -- seed data -----------------------------------------------------------------------------------------


def test_seeded_activities_carry_every_field_of_the_facts_sheet_somewhere():
    activities = seed_activities(300, seed=7, end=END)
    assert len(activities) == 300
    assert set().union(*activities) >= FACTS_FIELDS
    sports = {a["sport_type"] for a in activities}
    assert {"Run", "Ride", "Walk", "Hike", "Swim", "VirtualRide"} <= sports


def test_seeded_activities_leave_optional_fields_out_sometimes():
    activities = seed_activities(300, seed=7, end=END)
    without_hr = [a for a in activities if not a["has_heartrate"]]
    assert without_hr
    assert all("average_heartrate" not in a for a in without_hr)
    assert all(a["sport_type"] in {"Ride", "GravelRide", "MountainBikeRide", "VirtualRide"}
               for a in activities if "device_watts" in a)  # fmt: skip
    rides = [a for a in activities if a["type"] == "Ride"]
    assert any("average_watts" not in a for a in rides)
    assert any(a.get("device_watts") is True for a in rides)
    indoor = [a for a in activities if a["trainer"]]
    assert indoor
    assert all(a["start_latlng"] == [] for a in indoor)
    assert any(a["workout_type"] is None for a in activities)


def test_seeded_activities_are_deterministic_and_within_the_window():
    first = seed_activities(120, seed=5, end=END, days=30)
    assert first == seed_activities(120, seed=5, end=END, days=30)
    assert first != seed_activities(120, seed=6, end=END, days=30)
    starts = [datetime.fromisoformat(a["start_date"]) for a in first]
    assert starts == sorted(starts)
    assert min(starts) >= END - timedelta(days=31)
    assert max(starts) < END
    assert len({a["id"] for a in first}) == len(first)


# -- tokens ----------------------------------------------------------------------------------------------


def test_refresh_returns_a_bearer_token_living_six_hours(strava: StravaStandIn):
    answer = refresh(strava)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 21600
    assert body["expires_at"] == int(T0) + 21600
    assert body["access_token"]
    assert body["refresh_token"] == strava.refresh_token


def test_a_rotated_refresh_token_dies_at_once_with_stravas_400_body(strava: StravaStandIn):
    old = strava.refresh_token
    first = refresh(strava).json()
    assert first["refresh_token"] != old
    refused = refresh(strava, refresh_token=old)
    assert refused.status_code == 400
    assert refused.json() == REFRESH_TOKEN_INVALID
    assert refresh(strava, refresh_token=first["refresh_token"]).status_code == 200


def test_refresh_with_more_than_an_hour_left_returns_the_same_tokens(strava: StravaStandIn, clock: FakeClock):
    first = refresh(strava).json()
    clock.now += 21600 - 3601  # 3601 s left
    again = refresh(strava, refresh_token=first["refresh_token"]).json()
    assert again["access_token"] == first["access_token"]
    assert again["refresh_token"] == first["refresh_token"]
    assert again["expires_in"] == 3601
    clock.now += 2  # 3599 s left: a new access token, and with it a new refresh token
    renewed = refresh(strava, refresh_token=again["refresh_token"]).json()
    assert renewed["access_token"] != first["access_token"]
    assert renewed["refresh_token"] != first["refresh_token"]
    assert renewed["expires_in"] == 21600


def test_without_rotation_the_refresh_token_stays(clock: FakeClock):
    with StravaStandIn([], clock=clock, rotate_refresh_tokens=False) as strava:
        original = strava.refresh_token
        first = refresh(strava).json()
        strava.expire_access_tokens()
        second = refresh(strava).json()
        assert first["refresh_token"] == second["refresh_token"] == original
        assert first["access_token"] != second["access_token"]


def test_rotating_on_every_refresh_issues_new_tokens_even_with_hours_left(clock: FakeClock):
    with StravaStandIn([], clock=clock, rotate_every_refresh=True) as strava:
        first = refresh(strava).json()
        second = refresh(strava, refresh_token=first["refresh_token"]).json()
        assert second["access_token"] != first["access_token"]
        assert second["refresh_token"] != first["refresh_token"]
        assert second["expires_in"] == 21600
        assert refresh(strava, refresh_token=first["refresh_token"]).json() == REFRESH_TOKEN_INVALID


def test_wrong_client_credentials_are_refused(strava: StravaStandIn):
    wrong_secret = refresh(strava, client_secret="not-the-secret")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["errors"][0]["field"] == "client_secret"
    wrong_id = refresh(strava, client_id="1")
    assert wrong_id.status_code == 400
    assert wrong_id.json()["errors"][0]["field"] == "client_id"
    assert refresh(strava, grant_type="password").status_code == 400


def test_credentials_in_the_query_string_are_refused_and_not_recorded(strava: StravaStandIn):
    answer = requests.post(
        f"{strava.base_url}/oauth/token",
        params={"client_id": strava.client_id, "client_secret": strava.client_secret},
        data={"grant_type": "refresh_token", "refresh_token": strava.refresh_token},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400
    assert strava.client_secret not in repr(strava.requests)
    assert strava.client_secret not in json.dumps(strava.state())
    json_body = requests.post(
        f"{strava.base_url}/oauth/token",
        json={
            "client_id": strava.client_id,
            "client_secret": strava.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": strava.refresh_token,
        },
        timeout=TIMEOUT,
    )
    assert json_body.status_code == 400  # the token endpoint takes a form body


def test_a_revoked_refresh_token_answers_400(strava: StravaStandIn):
    revoked = strava.refresh_token
    strava.revoke_refresh_token()
    answer = refresh(strava, refresh_token=revoked)
    assert answer.status_code == 400
    assert answer.json() == REFRESH_TOKEN_INVALID


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc", "Bearer "])
def test_a_missing_or_bad_access_token_answers_401(strava: StravaStandIn, header: str | None):
    headers = {"Authorization": header} if header is not None else {}
    answer = requests.get(f"{strava.base_url}/api/v3/athlete/activities", headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 401
    assert answer.json() == ACCESS_TOKEN_INVALID


def test_an_expired_access_token_answers_401(strava: StravaStandIn, clock: FakeClock):
    token = access_token(strava)
    assert list_page(strava, token).status_code == 200
    clock.now += 21600
    assert list_page(strava, token).status_code == 401


def test_expire_access_tokens_kills_every_issued_token_and_refresh_issues_a_new_one(strava: StravaStandIn):
    token = access_token(strava)
    strava.expire_access_tokens()
    assert list_page(strava, token).status_code == 401
    fresh = access_token(strava)
    assert fresh != token
    assert list_page(strava, fresh).status_code == 200


def test_the_athlete_endpoint_answers_with_a_token(strava: StravaStandIn):
    token = access_token(strava)
    answer = requests.get(
        f"{strava.base_url}/api/v3/athlete", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert answer.status_code == 200
    assert answer.json()["id"] == strava.activities[0]["athlete"]["id"]


# -- listing ---------------------------------------------------------------------------------------------


def test_paging_returns_every_activity_once_newest_first(strava: StravaStandIn):
    token = access_token(strava)
    first = list_page(strava, token).json()
    assert len(first) == 30  # Strava's default per_page
    pages = all_pages(strava, token, per_page=MAX_PER_PAGE // 4)
    listed = [a["id"] for page in pages for a in page]
    assert sorted(listed) == sorted(a["id"] for a in strava.activities)
    starts = [a["start_date"] for page in pages for a in page]
    assert starts == sorted(starts, reverse=True)


def test_before_and_after_filter_strictly_on_start_date_oldest_first_with_after(strava: StravaStandIn):
    token = access_token(strava)
    epochs = sorted(int(datetime.fromisoformat(a["start_date"]).timestamp()) for a in strava.activities)
    after, before = epochs[20], epochs[80]
    pages = all_pages(strava, token, after=after, before=before, per_page=7)
    listed = [int(datetime.fromisoformat(a["start_date"]).timestamp()) for page in pages for a in page]
    assert listed == epochs[21:80]
    before_only = [a for page in all_pages(strava, token, before=before, per_page=50) for a in page]
    assert [int(datetime.fromisoformat(a["start_date"]).timestamp()) for a in before_only] == epochs[:80][
        ::-1
    ]


def test_per_page_is_capped_at_200(strava: StravaStandIn):
    token = access_token(strava)
    assert len(list_page(strava, token, per_page=200).json()) == 150
    too_many = list_page(strava, token, per_page=201)
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["field"] == "per_page"


def test_an_after_in_the_future_is_refused_like_strava(strava: StravaStandIn):
    token = access_token(strava)
    answer = list_page(strava, token, after=int(T0) * 1000)  # milliseconds by mistake
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "future"


def test_short_pages_lose_nothing_when_paging_until_empty(strava: StravaStandIn):
    token = access_token(strava)
    strava.set_short_pages(True)
    pages = all_pages(strava, token, per_page=20)
    assert any(len(page) < 20 for page in pages[:-1])  # short before the end
    listed = [a["id"] for page in pages for a in page]
    assert len(listed) == len(set(listed)) == 150
    # a client that stops at the first short page misses activities
    stopped_early = []
    for page in pages:
        stopped_early += page
        if len(page) < 20:
            break
    assert len(stopped_early) < 150


def test_activities_starting_at_the_same_second_are_ordered_by_id(strava: StravaStandIn):
    token = access_token(strava)
    tied = strava.activities[10:14]
    ids = [a["id"] for a in tied]
    for activity, new_id in zip(tied, [ids[2], ids[0], ids[3], ids[1]], strict=True):  # not in list order
        activity["start_date"] = tied[0]["start_date"]
        activity["id"] = new_id
    strava.activities_changed()
    newest_first = [a["id"] for a in list_page(strava, token, per_page=200).json() if a["id"] in ids]
    oldest_first = [a["id"] for a in list_page(strava, token, after=0, per_page=200).json() if a["id"] in ids]
    assert newest_first == sorted(ids, reverse=True)
    assert oldest_first == sorted(ids)


def test_the_listing_follows_activities_replaced_added_and_edited(strava: StravaStandIn):
    token = access_token(strava)
    assert len(list_page(strava, token, per_page=200).json()) == 150
    strava.activities = seed_activities(20, seed=4, end=END, days=60)
    assert [a["id"] for a in list_page(strava, token, per_page=200).json()] == [
        a["id"] for a in reversed(strava.activities)
    ]
    newest = {**strava.activities[0], "id": 1, "start_date": END.strftime("%Y-%m-%dT%H:%M:%SZ")}
    strava.activities.append(newest)
    assert list_page(strava, token, per_page=1).json() == [newest]
    oldest = strava.activities[-1]
    oldest["start_date"] = "2020-01-01T00:00:00Z"
    oldest["name"] = "Edited"
    strava.activities_changed()
    assert list_page(strava, token, after=0, per_page=1).json() == [oldest]


def busy_day(strava: StravaStandIn) -> datetime:
    """The first UTC day with at least two seeded activities."""
    days = Counter(a["start_date"][:10] for a in strava.activities)
    return datetime.fromisoformat(min(d for d, n in days.items() if n >= 2)).replace(tzinfo=UTC)


def day_listing(strava: StravaStandIn, token: str, day: datetime) -> list[dict]:
    after, before = int(day.timestamp()) - 1, int((day + timedelta(days=1)).timestamp())
    return list_page(strava, token, after=after, before=before, per_page=200).json()


def test_a_late_upload_an_edit_and_a_deletion_show_in_the_next_listing(strava: StravaStandIn):
    token = access_token(strava)
    day = busy_day(strava)
    listed = day_listing(strava, token, day)
    assert len(listed) >= 2
    template = {k: v for k, v in listed[0].items() if k != "id"}
    late = strava.upload({**template, "start_date": f"{day:%Y-%m-%d}T23:59:59Z", "name": "Synced late"})
    assert late["id"] > max(a["id"] for a in strava.activities if a is not late)
    strava.edit(listed[0]["id"], name="Renamed", sport_type="TrailRun")
    strava.delete(listed[-1]["id"])
    after = {a["id"]: a for a in day_listing(strava, token, day)}
    assert late["id"] in after
    assert (after[listed[0]["id"]]["name"], after[listed[0]["id"]]["sport_type"]) == ("Renamed", "TrailRun")
    assert listed[-1]["id"] not in after
    assert len(after) == len(listed)  # one in, one out
    # an edit of the start moves the activity to its new day
    strava.edit(late["id"], start_date=f"{day + timedelta(days=1):%Y-%m-%d}T00:00:00Z")
    assert late["id"] not in {a["id"] for a in day_listing(strava, token, day)}
    assert late["id"] in {a["id"] for a in day_listing(strava, token, day + timedelta(days=1))}


def test_history_changes_are_refused_by_name_when_they_cannot_apply(strava: StravaStandIn):
    with pytest.raises(KeyError, match="no activity with id 1"):
        strava.edit(1, name="x")
    with pytest.raises(KeyError, match="no activity with id 1"):
        strava.delete(1)
    with pytest.raises(ValueError, match="exists already"):
        strava.upload(dict(strava.activities[0]))
    with pytest.raises(ValueError, match="start_date"):
        strava.upload({"name": "no start"})
    with pytest.raises(ValueError, match="id"):
        strava.edit(strava.activities[0]["id"], id=2)


def test_history_changes_work_over_the_control_api(strava: StravaStandIn):
    token = access_token(strava)
    day = busy_day(strava)
    listed = day_listing(strava, token, day)
    template = {k: v for k, v in listed[0].items() if k != "id"}
    answer = requests.post(
        f"{strava.base_url}/_standin/history",
        json={
            "upload": [{**template, "start_date": f"{day:%Y-%m-%d}T12:00:00Z", "name": "Manual entry"}],
            "edit": [{"id": listed[0]["id"], "private": True, "visibility": "only_me"}],
            "delete": [listed[-1]["id"]],
        },
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    (uploaded,) = answer.json()["uploaded"]
    after = {a["id"]: a for a in day_listing(strava, token, day)}
    assert after[uploaded]["name"] == "Manual entry"
    assert after[listed[0]["id"]]["private"] is True
    assert listed[-1]["id"] not in after
    refused = requests.post(f"{strava.base_url}/_standin/history", json={"rename": []}, timeout=TIMEOUT)
    assert refused.status_code == 400
    assert "rename" in refused.json()["message"]
    missing = requests.post(f"{strava.base_url}/_standin/history", json={"delete": [1]}, timeout=TIMEOUT)
    assert (missing.status_code, "no activity with id 1" in missing.json()["message"]) == (400, True)


# -- rate limits -----------------------------------------------------------------------------------------


# -- detail endpoints -------------------------------------------------------------------------------------


def get_api(strava: StravaStandIn, token: str, path: str, **params: str) -> requests.Response:
    return requests.get(
        f"{strava.base_url}/api/v3{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def test_a_detailed_activity_adds_the_detail_fields_to_the_summary_and_is_deterministic(
    strava: StravaStandIn,
):
    token = access_token(strava)
    run = next(a for a in strava.activities if a["sport_type"] == "Run" and a["distance"] > 5000)
    first = get_api(strava, token, f"/activities/{run['id']}")
    assert first.status_code == 200
    detailed = first.json()
    assert {k: v for k, v in detailed.items() if k in run and k != "resource_state"} == {
        k: v for k, v in run.items() if k != "resource_state"
    }
    assert detailed["resource_state"] == 3
    assert {"description", "calories", "laps", "splits_metric", "best_efforts"} <= detailed.keys()
    assert detailed == get_api(strava, token, f"/activities/{run['id']}").json()
    # the metric splits and the laps cover the activity exactly
    assert sum(s["moving_time"] for s in detailed["splits_metric"]) == run["moving_time"]
    assert round(sum(s["distance"] for s in detailed["splits_metric"]), 1) == round(run["distance"], 1)
    assert [s["split"] for s in detailed["splits_metric"]] == list(
        range(1, len(detailed["splits_metric"]) + 1)
    )
    assert sum(lap["elapsed_time"] for lap in detailed["laps"]) == run["elapsed_time"]
    names = [e["name"] for e in detailed["best_efforts"]]
    assert names[:3] == ["400m", "1/2 mile", "1k"]
    assert "5k" in names
    assert all(e["distance"] <= run["distance"] for e in detailed["best_efforts"])
    assert detailed["gear"]["id"] == run["gear_id"]
    assert detailed["gear"]["name"]


def test_a_detailed_activity_follows_an_edit_of_its_summary(strava: StravaStandIn):
    token = access_token(strava)
    run = next(a for a in strava.activities if a["sport_type"] == "Run" and a["distance"] > 5000)
    strava.edit(run["id"], sport_type="Walk", type="Walk", distance=1200.0)
    detailed = get_api(strava, token, f"/activities/{run['id']}").json()
    assert detailed["best_efforts"] == []  # a walk has none
    assert [s["distance"] for s in detailed["splits_metric"]] == [1000.0, 200.0]


def test_gear_answers_its_name_and_the_distance_of_its_activities(strava: StravaStandIn):
    token = access_token(strava)
    gear_id = next(a["gear_id"] for a in strava.activities if a["gear_id"])
    answer = get_api(strava, token, f"/gear/{gear_id}")
    assert answer.status_code == 200
    gear = answer.json()
    assert gear["id"] == gear_id
    assert gear["name"] == f"{gear['brand_name']} {gear['model_name']}"
    expected = sum(a["distance"] for a in strava.activities if a["gear_id"] == gear_id)
    assert gear["distance"] == pytest.approx(expected, abs=0.1)
    assert get_api(strava, token, "/gear/g1").status_code == 404


def test_streams_are_the_keys_the_activity_has_of_equal_length(strava: StravaStandIn):
    token = access_token(strava)
    outdoor = next(a for a in strava.activities if a["start_latlng"] and a.get("average_heartrate"))
    keys = "time,distance,latlng,altitude,heartrate,cadence,watts"
    by_type = get_api(strava, token, f"/activities/{outdoor['id']}/streams", keys=keys, key_by_type="true")
    assert by_type.status_code == 200
    streams = by_type.json()
    assert {"time", "distance", "latlng", "heartrate"} <= streams.keys()
    assert ("watts" in streams) == ("average_watts" in outdoor)
    assert len({len(s["data"]) for s in streams.values()}) == 1
    assert streams["time"]["data"][-1] == outdoor["elapsed_time"]
    as_list = get_api(strava, token, f"/activities/{outdoor['id']}/streams", keys="heartrate").json()
    assert [s["type"] for s in as_list] == ["heartrate", "distance"]
    indoor = next(a for a in strava.activities if not a["start_latlng"] and not a["manual"])
    indoor_streams = get_api(
        strava, token, f"/activities/{indoor['id']}/streams", keys=keys, key_by_type="true"
    )
    assert "latlng" not in indoor_streams.json()


def test_detail_gear_and_stream_calls_count_against_the_rate_limits(strava: StravaStandIn):
    token = access_token(strava)
    activity = strava.activities[0]
    get_api(strava, token, f"/activities/{activity['id']}")
    get_api(strava, token, f"/activities/{activity['id']}/streams", keys="time")
    answer = get_api(strava, token, "/gear/g1")
    assert answer.headers["X-ReadRateLimit-Usage"] == "3,3"
    assert get_api(strava, token, "/activities/1").status_code == 404


def test_every_api_response_carries_the_four_rate_limit_headers(strava: StravaStandIn):
    token = access_token(strava)
    ok = list_page(strava, token)
    unauthorised = list_page(strava, "bad")
    for answer, used in ((ok, 1), (unauthorised, 2)):
        assert answer.headers["X-RateLimit-Limit"] == "200,2000"
        assert answer.headers["X-ReadRateLimit-Limit"] == "100,1000"
        assert answer.headers["X-RateLimit-Usage"] == f"{used},{used}"
        assert answer.headers["X-ReadRateLimit-Usage"] == f"{used},{used}"


def test_the_token_endpoint_is_not_counted_against_the_api_budget(strava: StravaStandIn):
    token = access_token(strava)
    refresh(strava)
    assert list_page(strava, token).headers["X-ReadRateLimit-Usage"] == "1,1"


def test_past_the_15_minute_budget_answers_429_and_still_counts_daily(
    strava: StravaStandIn, clock: FakeClock
):
    token = access_token(strava)
    strava.set_usage(read_15min=100, read_daily=500)
    refused = list_page(strava, token)
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMIT_EXCEEDED
    assert refused.headers["X-ReadRateLimit-Usage"] == "101,501"
    clock.now = (clock.now // 900 + 1) * 900  # the next quarter hour
    allowed = list_page(strava, token)
    assert allowed.status_code == 200
    assert allowed.headers["X-ReadRateLimit-Usage"] == "1,502"


def test_past_the_daily_budget_answers_429_until_midnight_utc(strava: StravaStandIn, clock: FakeClock):
    token = access_token(strava)
    strava.set_usage(read_15min=0, read_daily=1000)
    assert list_page(strava, token).status_code == 429
    clock.now += 900
    assert list_page(strava, token).status_code == 429
    clock.now = (clock.now // 86400 + 1) * 86400  # midnight UTC
    answer = list_page(strava, access_token(strava))
    assert answer.status_code == 200
    assert answer.headers["X-ReadRateLimit-Usage"] == "1,1"


def test_the_overall_limit_applies_too(clock: FakeClock):
    with StravaStandIn([], clock=clock, overall_limit_15min=2, read_limit_15min=50) as strava:
        token = access_token(strava)
        statuses = [list_page(strava, token).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


# -- faults ----------------------------------------------------------------------------------------------


def test_fail_next_answers_the_status_then_recovers(strava: StravaStandIn):
    token = access_token(strava)
    strava.fail_next(2, 503)
    assert [list_page(strava, token).status_code for _ in range(3)] == [503, 503, 200]
    assert [r.status for r in strava.requests[-3:]] == [503, 503, 200]


def test_slow_next_makes_a_client_timeout_fire(strava: StravaStandIn):
    token = access_token(strava)
    strava.slow_next(1, 30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{strava.base_url}/api/v3/athlete/activities",
            headers={"Authorization": f"Bearer {token}"},
            timeout=(TIMEOUT, 0.3),
        )
    assert list_page(strava, token).status_code == 200


def test_drop_next_closes_the_connection_without_an_answer(strava: StravaStandIn):
    token = access_token(strava)
    strava.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        list_page(strava, token)
    assert list_page(strava, token).status_code == 200
    assert [r.status for r in strava.requests[-2:]] == [0, 200]


def control(strava_url: str, **switches: object) -> requests.Response:
    return requests.post(f"{strava_url}/_standin/faults", json=switches, timeout=TIMEOUT)


def test_every_fault_switch_works_over_the_control_api(strava: StravaStandIn):
    token = access_token(strava)
    url = strava.base_url
    assert control(url, fail_next=[1, 502]).status_code == 200
    assert list_page(strava, token).status_code == 502
    control(url, drop_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        list_page(strava, token)
    control(url, slow_next=[1, 30])
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{url}/api/v3/athlete", headers={"Authorization": f"Bearer {token}"}, timeout=(5, 0.3))
    control(url, html_next=1)
    page = list_page(strava, token)
    assert (page.status_code, page.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert page.text.startswith("<!DOCTYPE html>")
    assert list_page(strava, token).headers["Content-Type"].startswith("application/json")
    control(url, short_pages=True)
    assert len(list_page(strava, token, per_page=20).json()) == 19
    control(url, usage={"read_15min": 100})
    assert list_page(strava, token).status_code == 429
    control(url, usage={"read_15min": 0, "overall_15min": 0})
    control(url, expire_access_tokens=True)
    assert list_page(strava, token).status_code == 401
    held = strava.refresh_token
    control(url, revoke_refresh_token=True)
    assert refresh(strava, refresh_token=held).json() == REFRESH_TOKEN_INVALID
    control(url, rotate_every_refresh=True)
    first = refresh(strava).json()
    second = refresh(strava).json()  # hours left on the first access token, new tokens all the same
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]


def test_the_control_api_refuses_unknown_switches(strava: StravaStandIn):
    answer = control(strava.base_url, explode=True)
    assert answer.status_code == 400
    assert "explode" in answer.json()["message"]


def test_the_state_endpoint_counts_requests_and_never_shows_a_secret(strava: StravaStandIn):
    token = access_token(strava)
    list_page(strava, token)
    list_page(strava, "bad")
    state = requests.get(f"{strava.base_url}/_standin/state", timeout=TIMEOUT)
    assert state.status_code == 200
    counts = state.json()["requests"]
    assert counts["by_path"] == {"/oauth/token": 1, "/api/v3/athlete/activities": 2}
    assert counts["by_status"] == {"200": 2, "401": 1}
    for secret in (strava.client_secret, strava.refresh_token, token):
        assert secret not in state.text
    assert strava.client_secret not in repr(strava)


# -- the process -----------------------------------------------------------------------------------------


@pytest.fixture
def strava_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    state_file = tmp_path / "strava.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.strava_api", "--port", "0", "--state-file", str(state_file),
         "--activities", "40", "--seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield proc, state_file
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def read_ready_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the stand-in printed nothing")
        return proc.stdout.readline().strip()


def test_the_cli_serves_writes_a_private_state_file_and_stops_on_sigterm(strava_process):
    proc, state_file = strava_process
    line = read_ready_line(proc)
    assert line.startswith("ready http://127.0.0.1:")
    base_url = line.split(" ", 1)[1]
    assert state_file.stat().st_mode & 0o777 == 0o600
    state = json.loads(state_file.read_text())
    assert set(state) == {"base_url", "client_id", "client_secret", "refresh_token"}
    assert state["base_url"] == base_url

    token = requests.post(
        f"{base_url}/oauth/token",
        data={
            "client_id": state["client_id"],
            "client_secret": state["client_secret"],
            "grant_type": "refresh_token",
            "refresh_token": state["refresh_token"],
        },
        timeout=TIMEOUT,
    ).json()["access_token"]
    listed = requests.get(
        f"{base_url}/api/v3/athlete/activities",
        params={"per_page": 200},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert len(listed.json()) == 40

    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 0
    assert not state_file.exists()
    assert proc.stderr is not None
    logged = proc.stderr.read()
    assert state["client_secret"] not in logged
    assert state["refresh_token"] not in logged
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base_url}/_standin/state", timeout=TIMEOUT)
