"""``make backfill`` cuts a long range into pieces: together they cover it exactly, none longer than asked."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.backfill import chunks, main

START = datetime(2025, 11, 27, tzinfo=UTC)


@given(days=st.integers(min_value=0, max_value=800), chunk_days=st.integers(min_value=1, max_value=62))
def test_the_pieces_cover_the_range_without_gap_or_overlap(days, chunk_days):
    end = START + timedelta(days=days)
    pieces = chunks(START, end, chunk_days)

    assert pieces[0][0] == START
    assert pieces[-1][1] == end
    for (_, last), (first, _) in itertools.pairwise(pieces):
        assert first - last == timedelta(seconds=1)  # the next piece starts right after the last one
    for first, last in pieces:
        assert first <= last
        assert last - first < timedelta(days=chunk_days)
    assert len(pieces) == days // chunk_days + 1


def test_a_year_is_twelve_pieces_of_a_month():
    pieces = chunks(START, datetime(2026, 11, 26, tzinfo=UTC), 31)
    assert len(pieces) == 12
    assert pieces[1][0] == datetime(2025, 12, 28, tzinfo=UTC)


def test_a_range_that_ends_before_it_starts_is_refused_with_both_dates():
    with pytest.raises(ValueError, match=r"ends \(2025-11-01T00:00:00Z\) before it starts \(2025-11-27"):
        chunks(START, datetime(2025, 11, 1, tzinfo=UTC), 31)


def test_without_a_dag_id_the_command_says_how_to_call_it(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--dag-id", "", "--from-date", "2026-11-01", "--to-date", "2026-11-02"])
    assert exit_.value.code == 2
    assert "make backfill DAG=<dag_id>" in capsys.readouterr().err
