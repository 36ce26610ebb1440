"""Rate limits, read from Strava's headers: wait for the next quarter hour when the budget allows (and
say so), stop cleanly when it does not, stop the run on the daily limit. Over real HTTP, fake time."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from datalake.strava.client import StravaClient
from datalake.strava.errors import StravaDailyLimitReached, StravaRateLimited
from datalake.strava.tokens import exchange_refresh_token
from devstack.strava_api import StravaStandIn
from tests.clock import FakeClock
from tests.strava.conftest import END, seeded


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(END.timestamp() + 86400 + 60)  # one minute into a 15-minute window


@pytest.fixture
def standin(clock: FakeClock) -> Iterator[StravaStandIn]:
    with StravaStandIn(seeded(), clock=clock) as strava:
        yield strava


def _client(strava: StravaStandIn, clock: FakeClock, budget: float) -> StravaClient:
    tokens = exchange_refresh_token(
        strava.base_url, strava.client_id, strava.client_secret, strava.refresh_token, conn_id="t"
    )
    return StravaClient(
        strava.base_url, tokens.access_token or "", clock=clock, sleep=clock.sleep, deadline=clock() + budget
    )


def _list(client: StravaClient) -> int:
    lo, hi = int(END.timestamp()) - 10 * 86400, int(END.timestamp())
    return sum(len(page) for page in client.activity_pages(lo, hi, per_page=10))


def test_near_the_15_minute_limit_it_waits_for_the_next_quarter_hour_and_says_so(
    standin, clock, caplog
) -> None:
    standin.set_usage(read_15min=98)
    client = _client(standin, clock, budget=3600)
    with caplog.at_level(logging.INFO, logger="datalake.strava.client"):
        assert _list(client) == len(standin.activities)
    assert clock.slept
    assert clock.slept[0] == pytest.approx(15 * 60 - 60 + 1)  # to the next :00/:15/:30/:45
    assert "waiting" in caplog.text
    assert "quarter hour" in caplog.text
    assert not [r for r in standin.requests if r.status == 429]


def test_a_429_beyond_the_time_budget_stops_cleanly_for_a_retry(standin, clock) -> None:
    standin.set_usage(read_15min=100)
    client = _client(standin, clock, budget=60)
    with pytest.raises(StravaRateLimited, match="retry continues"):
        _list(client)
    assert not clock.slept


def test_the_daily_limit_stops_the_run_with_a_clear_message(standin, clock) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    standin.set_usage(read_daily=1000)
    client = _client(standin, clock, budget=3600)
    with pytest.raises(StravaDailyLimitReached, match="daily rate limit") as caught:
        _list(client)
    assert isinstance(caught.value, AirflowFailException)
    assert "midnight UTC" in str(caught.value)


def test_a_task_starting_where_the_last_one_used_up_the_window_waits_instead_of_meeting_a_429(
    standin, clock
) -> None:
    """Each extraction is a new process: it starts from the usage the previous one recorded."""
    from datalake.strava.client import RateLimits

    standin.set_usage(read_15min=99)
    first = _client(standin, clock, budget=3600)
    first.get("/athlete")  # the 100th request of the window: allowed, and the window is now full
    state = first.limits.snapshot()
    assert (state["usage_15"], state["limit_15"]) == (100, 100)

    second = _client(standin, clock, budget=3600)
    second.limits = RateLimits.restore(state, clock())
    assert _list(second) == len(standin.activities)

    assert clock.slept == [pytest.approx(15 * 60 - 60 + 1)]
    assert not [r for r in standin.requests if r.status == 429]


def test_usage_from_an_earlier_window_or_day_does_not_hold_back_a_new_one(clock) -> None:
    from datalake.strava.client import RateLimits

    now = clock() + 3600  # 01:01 UTC
    seen = {"usage_15": 100, "limit_15": 100, "usage_day": 1000, "limit_day": 1000}
    same_window = RateLimits.restore({**seen, "seen_at": now - 30}, now)
    assert (same_window.usage_15, same_window.usage_day) == (100, 1000)
    earlier_window = RateLimits.restore({**seen, "seen_at": now - 15 * 60}, now)
    assert (earlier_window.usage_15, earlier_window.usage_day) == (0, 1000)
    earlier_day = RateLimits.restore({**seen, "seen_at": now - 86400}, now)
    assert (earlier_day.usage_15, earlier_day.usage_day) == (0, 0)
    assert RateLimits.restore(None, now) == RateLimits()
    assert RateLimits.restore({"usage_15": "many"}, now) == RateLimits()
