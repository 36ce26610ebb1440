"""A write on an event loop's thread cannot stall that loop for SQLite's whole busy timeout.

The api-server's deadlock, in two threads and one SQLite file: a "request" thread has written and
commits only after the event loop has run a callback of its (as a request's teardown is scheduled on
the loop), and the loop's own thread then writes (as Airflow's audit log does in its ``async``
dependency). Without ``devstack.sqlite_event_loop`` the loop's write waits out the whole busy timeout
while the holder waits for the loop; with it, the write is refused after a moment (the holder is a
connection of the same process) and the holder commits. Behind another process's writer, the loop's
write waits the loop's own wait and gets through; a write from any other thread still waits for the
lock as long as the connection says.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from devstack import sqlite_event_loop
from tests.engine_listeners import engine_listener

LOOP_BUSY_MS = 1000  # the loop's wait in these tests (the stack's is longer: EVENT_LOOP_BUSY_MS)


def fail_fast(on: bool, busy_ms: int = LOOP_BUSY_MS) -> contextlib.AbstractContextManager[None]:
    """The process with the stack's event-loop lock waits (of ``busy_ms``) on or off."""
    return engine_listener(
        "before_cursor_execute",
        sqlite_event_loop._busy_timeout_for_this_thread,
        functools.partial(sqlite_event_loop.fail_fast_on_event_loops, busy_ms=busy_ms),
        on=on,
    )


def _engine(path: Path, busy_seconds: float) -> Engine:
    engine = create_engine(f"sqlite:///{path}?timeout={busy_seconds}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS log (who TEXT)"))
    return engine


def _loop_write_beside_a_holder_that_needs_the_loop(engine: Engine) -> dict[str, object]:
    """Run the deadlock; return how the loop's write ended, how long it took, and whether the
    holder's row was committed in the end."""
    loop = asyncio.new_event_loop()
    holding, let_through = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def request() -> None:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO log VALUES ('request')"))  # the write lock is held from here
            holding.set()
            let_through.wait(timeout=60)  # set by a callback on the loop: once the loop runs again
            conn.commit()

    async def audit_log() -> None:
        await asyncio.get_running_loop().run_in_executor(None, holding.wait)
        asyncio.get_running_loop().call_soon(let_through.set)  # runs only after the write below
        started = time.monotonic()
        try:
            with engine.begin() as conn:  # synchronously, on the loop's thread
                conn.execute(text("INSERT INTO log VALUES ('audit')"))
            outcome["write"] = "written"
        except OperationalError as exc:
            outcome["write"] = str(exc.orig)
        outcome["seconds"] = time.monotonic() - started
        # the loop runs on while the holder, now let through, commits
        await asyncio.get_running_loop().run_in_executor(None, holder.join, 60)

    holder = threading.Thread(target=request)
    holder.start()
    try:
        loop.run_until_complete(audit_log())
    finally:
        holder.join(timeout=60)
        loop.close()
    with engine.connect() as conn:
        outcome["committed"] = [row[0] for row in conn.execute(text("SELECT who FROM log"))]
    return outcome


def test_without_it_the_loops_write_waits_out_the_whole_busy_timeout(tmp_path: Path):
    busy = 3.0
    with fail_fast(on=False):
        outcome = _loop_write_beside_a_holder_that_needs_the_loop(_engine(tmp_path / "airflow.db", busy))

    assert outcome["write"] == "database is locked"
    assert outcome["seconds"] >= busy  # SQLite waits at least its busy timeout before it refuses
    assert outcome["committed"] == ["request"]


def test_with_it_the_loops_write_beside_a_writer_of_its_process_is_refused_at_once_and_the_holder_commits(
    tmp_path: Path,
):
    loop_busy_ms = 5 * LOOP_BUSY_MS
    with fail_fast(on=True, busy_ms=loop_busy_ms):
        outcome = _loop_write_beside_a_holder_that_needs_the_loop(_engine(tmp_path / "airflow.db", 20))

    assert outcome["write"] == "database is locked"
    # a moment (BESIDE_OWN_WRITER_MS), neither the connection's wait nor the loop's own
    assert outcome["seconds"] < loop_busy_ms / 1000 / 2
    assert outcome["committed"] == ["request"]


HOLD_IN_ANOTHER_PROCESS = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO log VALUES ('other process')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_with_it_the_loops_write_behind_another_processs_writer_waits_the_loops_wait_and_succeeds(
    tmp_path: Path,
):
    path, hold_seconds = tmp_path / "airflow.db", 1.0
    engine = _engine(path, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_ANOTHER_PROCESS, str(path), str(hold_seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )

    async def audit_log() -> float:
        started = time.monotonic()
        with engine.begin() as conn:  # synchronously, on the loop's thread
            conn.execute(text("INSERT INTO log VALUES ('audit')"))
        return time.monotonic() - started

    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with fail_fast(on=True, busy_ms=5 * LOOP_BUSY_MS):
            waited = asyncio.run(audit_log())
    finally:
        holder.wait(timeout=60)

    assert waited >= hold_seconds / 2  # it waited for the other process's commit, and got in
    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(text("SELECT who FROM log"))] == ["other process", "audit"]


def test_with_it_a_write_off_the_loop_still_waits_for_the_lock_and_succeeds(tmp_path: Path):
    engine = _engine(tmp_path / "airflow.db", 20 * LOOP_BUSY_MS / 1000)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO log VALUES ('first')"))
            holding.set()
            release.wait(timeout=60)
            conn.commit()

    with fail_fast(on=True):
        thread = threading.Thread(target=holder)
        thread.start()
        holding.wait(timeout=60)
        # released later than the loop's wait would last: a write off the loop still gets through
        threading.Timer(2 * LOOP_BUSY_MS / 1000, release.set).start()
        try:
            with engine.begin() as conn:  # no event loop on this thread
                conn.execute(text("INSERT INTO log VALUES ('second')"))
        finally:
            release.set()
            thread.join(timeout=60)

    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(text("SELECT who FROM log"))] == ["first", "second"]
