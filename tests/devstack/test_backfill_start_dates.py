"""``make backfill`` refuses a range that starts before the DAG's configured first day, in one line that
names the key, before it looks for the stack (the end-to-end tests check that nothing is created)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from datalake.config import get_config
from devstack.backfill import first_day, main, refuse_before_first_day


def dags_with_a_first_day() -> list[tuple[str, str, str]]:
    config = get_config()
    found = [("strava_activities", "strava.start_date", config.strava.start_date)]
    for inv in config.inventories:
        found.append((inv.dag_id, f"inventories[name={inv.name}].start_date", inv.start_date))
    return found


@pytest.mark.parametrize(("dag_id", "key", "first"), dags_with_a_first_day())
def test_a_range_from_the_day_before_the_first_day_is_refused_in_one_line_naming_the_key(
    capsys, dag_id, key, first
):
    day_before = (date.fromisoformat(first) - timedelta(days=1)).isoformat()

    code = main(["--dag-id", dag_id, "--from-date", day_before, "--to-date", first])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"backfill of {dag_id} refused: the range starts on {day_before}, ")
    assert f", before {key} = {first} in " in err
    assert err.rstrip().endswith("Nothing was created.")


@pytest.mark.parametrize(("dag_id", "key", "first"), dags_with_a_first_day())
def test_a_range_from_the_first_day_on_is_not_refused(dag_id, key, first):
    day = date.fromisoformat(first)
    assert first_day(get_config(), dag_id) == (day, key)

    refuse_before_first_day(get_config(), dag_id, datetime(day.year, day.month, day.day, tzinfo=UTC))


def test_a_dag_without_a_configured_first_day_is_not_refused_any_range():
    assert first_day(get_config(), "daily_summaries") is None

    refuse_before_first_day(get_config(), "daily_summaries", datetime(1999, 1, 1, tzinfo=UTC))
