"""A write on an event loop's thread cannot stall that loop for SQLite's whole busy timeout.

The api-server's deadlock, in two threads and one SQLite file: a "request" thread has written and
commits only after the event loop has run a callback of its (as a request's teardown is scheduled on
the loop), and the loop's own thread then writes (as Airflow's audit log does in its ``async``
dependency). Without ``devstack.sqlite_event_loop`` the loop's write waits out the whole busy timeout
while the holder waits for the loop; with it, the write is refused within a second and the holder
commits. A write from any other thread still waits for the lock as long as the connection says.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from devstack import sqlite_event_loop


@contextlib.contextmanager
def fail_fast(on: bool) -> Iterator[None]:
    """The process with the stack's event-loop lock waits on or off; as it was before afterwards."""
    listener = sqlite_event_loop._busy_timeout_for_this_thread
    had = event.contains(Engine, "before_cursor_execute", listener)
    if had:
        event.remove(Engine, "before_cursor_execute", listener)
    if on:
        sqlite_event_loop.fail_fast_on_event_loops()
    try:
        yield
    finally:
        if event.contains(Engine, "before_cursor_execute", listener):
            event.remove(Engine, "before_cursor_execute", listener)
        if had:
            sqlite_event_loop.fail_fast_on_event_loops()


def _engine(path: Path, busy_seconds: float) -> Engine:
    engine = create_engine(f"sqlite:///{path}?timeout={busy_seconds}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS log (who TEXT)"))
    return engine


def _loop_write_beside_a_holder_that_needs_the_loop(engine: Engine) -> dict[str, object]:
    """Run the deadlock; return how the loop's write ended, how long it took, and whether the
    holder's row was committed in the end."""
    loop = asyncio.new_event_loop()
    holding = threading.Event()
    outcome: dict[str, object] = {}

    def request() -> None:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO log VALUES ('request')"))  # the write lock is held from here
            holding.set()
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=60)
            conn.commit()

    async def audit_log() -> None:
        await asyncio.get_running_loop().run_in_executor(None, holding.wait)
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


def test_with_it_the_loops_write_is_refused_within_a_second_and_the_holder_commits(tmp_path: Path):
    busy = 30.0
    with fail_fast(on=True):
        outcome = _loop_write_beside_a_holder_that_needs_the_loop(_engine(tmp_path / "airflow.db", busy))

    assert outcome["write"] == "database is locked"
    assert outcome["seconds"] < busy / 2  # the event loop's own wait, not the connection's
    assert outcome["committed"] == ["request"]


def test_with_it_a_write_off_the_loop_still_waits_for_the_lock_and_succeeds(tmp_path: Path):
    engine = _engine(tmp_path / "airflow.db", 30.0)
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
        threading.Timer(sqlite_event_loop.EVENT_LOOP_BUSY_MS / 1000 * 2, release.set).start()
        try:
            with engine.begin() as conn:  # no event loop on this thread
                conn.execute(text("INSERT INTO log VALUES ('second')"))
        finally:
            release.set()
            thread.join(timeout=60)

    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(text("SELECT who FROM log"))] == ["first", "second"]
