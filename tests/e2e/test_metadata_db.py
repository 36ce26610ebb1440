"""The embedded stack's metadata DB: a write that meets SQLite's lock waits for it instead of failing.

SQLite lets one writer in at a time. With Python's default lock wait of 5 s, a write transaction
longer than that (a slow moment of a loaded two-core machine) made the api-server answer 500 and the
scheduler's own writes fail; the stack gives every Airflow process a one-minute wait.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest
import requests

from devstack.airflow import SQLITE_BUSY_TIMEOUT

pytestmark = pytest.mark.e2e

HOLD_SECONDS = 8  # longer than Python's default lock wait (5 s), well within the stack's


def hold_write_lock(db: str, held: threading.Event, seconds: float) -> None:
    """Take SQLite's write lock on ``db``, signal ``held``, keep it ``seconds``, then let go."""
    conn = sqlite3.connect(db, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_an_api_write_waits_for_another_writer_instead_of_failing(stack):
    airflow = stack.airflow
    key = f"e2e_lock_probe_{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {airflow.token()}"}
    held = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(str(airflow.home / "airflow.db"), held, HOLD_SECONDS)
    )
    holder.start()
    try:
        assert held.wait(SQLITE_BUSY_TIMEOUT), "could not take the metadata DB's write lock"
        started = time.monotonic()
        # one request, not the client's retrying api(): its answer is the api-server's own
        answer = requests.post(
            f"{airflow.api_url}/api/v2/variables",
            headers=headers,
            json={"key": key, "value": "1"},
            timeout=SQLITE_BUSY_TIMEOUT + 30,
        )
        waited = time.monotonic() - started
    finally:
        holder.join()
    if answer.status_code == 201:
        airflow.api("DELETE", f"/variables/{key}")
    assert answer.status_code == 201, f"{answer.status_code} after {waited:.1f}s: {answer.text[:300]}"
    assert waited >= HOLD_SECONDS - 1, f"the write did not wait for the lock ({waited:.1f}s)"
