"""The reconciliation window: which whole UTC days a run lists, and the key that sizes it."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from datalake.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from datalake.strava.window import Window, day_of, run_window

DEFAULT: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def test_the_4am_run_lists_the_seven_whole_days_before_its_day_so_the_morning_is_a_grace_period() -> None:
    end = datetime(2026, 11, 20, 4, tzinfo=UTC)  # the run of [11-19 04:00, 11-20 04:00)
    window = run_window(end, 7, "2025-01-01")
    assert (window.first, window.last) == (date(2026, 11, 13), date(2026, 11, 19))
    assert len(window.days) == 7
    # the listing is [11-13 00:00, 11-20 00:00) UTC: Strava's after and before are strict
    assert window.after == int(datetime(2026, 11, 13, tzinfo=UTC).timestamp()) - 1
    assert window.before == int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    assert window.before <= end.timestamp()


def test_a_midnight_schedule_lists_the_day_that_just_ended() -> None:
    assert run_window(datetime(2026, 11, 20, tzinfo=UTC), 1, "2025-01-01").days == [date(2026, 11, 19)]


@pytest.mark.parametrize("reconcile_days", [0, 1])
def test_zero_turns_reconciliation_off_and_the_run_lists_its_own_day_only(reconcile_days: int) -> None:
    end = datetime(2026, 11, 20, 4, tzinfo=UTC)
    assert run_window(end, reconcile_days, "2025-01-01").days == [date(2026, 11, 19)]


def test_the_window_never_starts_before_the_configured_first_day() -> None:
    end = datetime(2026, 11, 20, 4, tzinfo=UTC)
    assert run_window(end, 7, "2026-11-17").days == [
        date(2026, 11, 17),
        date(2026, 11, 18),
        date(2026, 11, 19),
    ]
    # an hourly schedule's runs on the first day itself have no whole day to list yet
    assert run_window(datetime(2026, 11, 17, 5, tzinfo=UTC), 7, "2026-11-17").empty


def test_a_window_covering_some_days_spans_them_all() -> None:
    window = Window.covering([date(2026, 3, 9), date(2026, 3, 2), date(2026, 3, 5)])
    assert (window.first, window.last, len(window.days)) == (date(2026, 3, 2), date(2026, 3, 9), 8)
    assert date(2026, 3, 4) in window
    assert date(2026, 3, 10) not in window
    with pytest.raises(ValueError, match="no day"):
        Window.covering([])


def test_reconcile_days_defaults_to_a_week() -> None:
    assert load_config(DEFAULT_CONFIG_PATH).strava.reconcile_days == 7
    raw = copy.deepcopy(DEFAULT)
    del raw["strava"]["reconcile_days"]
    assert parse_config(raw).strava.reconcile_days == 7


@pytest.mark.parametrize("value", [-1, 367, 2.5, "7", True, None])
def test_a_reconcile_days_that_is_not_a_whole_number_of_days_up_to_a_year_is_refused(value: Any) -> None:
    raw = copy.deepcopy(DEFAULT)
    raw["strava"]["reconcile_days"] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "/etc/datalake.yaml")
    assert caught.value.problems == (
        f"strava.reconcile_days: must be a whole number of days from 0 to 366, got "
        f"{'null' if value is None else 'true' if value is True else repr(value)}",
    )


@pytest.mark.parametrize("value", [0, 1, 30, 366])
def test_reconcile_days_within_the_rule_is_kept(value: int) -> None:
    raw = copy.deepcopy(DEFAULT)
    raw["strava"]["reconcile_days"] = value
    assert parse_config(raw).strava.reconcile_days == value


def test_days_are_utc_days_whatever_the_zone_of_the_moment() -> None:
    # 01:00 in Sydney on the 20th is 14:00 UTC on the 19th
    assert day_of(datetime(2026, 11, 20, 1, tzinfo=timezone(timedelta(hours=11)))) == date(2026, 11, 19)
    with pytest.raises(ValueError, match="without a timezone"):
        day_of(datetime(2026, 11, 20))
