"""SQLite lock waits that cannot block the api-server's event loop: what the embedded Airflow needs.

Airflow's API server writes the audit log of each REST call that changes something (``action_logging``)
in an ``async`` dependency, so its INSERT and commit run on the event loop's thread. When another
request of the same server, a synchronous one (a task's XCom ``POST`` to the execution API), has written
and not yet committed, its commit waits for the event loop (the request's teardown is scheduled there),
and the audit log's INSERT waits for that commit's lock: the whole server stands still until SQLite's
busy timeout (60 s on the stack) refuses the INSERT. Measured in the e2e suite: a ``POST /backfills``,
a ``PATCH /dags/...`` and a ``POST .../dagRuns`` each answered 500 after 60 s, the XCom requests beside
them took 60 s, and the tasks whose heartbeats stalled meanwhile were reset and ran again.

:func:`fail_fast_on_event_loops` gives a statement that runs on a thread with a running event loop a
busy timeout of :data:`EVENT_LOOP_BUSY_MS`, 10 s: long enough for another process's write on a loaded
machine (``tests/e2e/test_metadata_db.py`` holds the lock 8 s), short enough that the scheduler's and
the tasks' heartbeats outlast a stall (the scheduler counts as dead after 30 s and its tasks are reset).
In the deadlock the INSERT is refused, the loop runs on, the other request commits, and the refused
call answers 500, which the stack's clients retry (``AirflowServer.api``, the Strava token store).

While another connection of the same process holds the write lock (Python's ``sqlite3`` is in a
transaction only after a write, or after the ``BEGIN IMMEDIATE`` of ``devstack.sqlite_savepoints``), that
holder's commit may be waiting for this very loop, and a longer wait only stalls the server: the loop's
statement then waits :data:`BESIDE_OWN_WRITER_MS`, long enough for a holder that commits on its own
thread, and the server does not stand still for the loop's whole wait.
Statements on any other thread keep the connection's own timeout.
PostgreSQL, the production database, locks rows, not the database, and is left alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

EVENT_LOOP_BUSY_MS = 10_000
BESIDE_OWN_WRITER_MS = 250
_loop_busy_ms = EVENT_LOOP_BUSY_MS
# this process's SQLite connections by id (sqlite3's cannot be weakly referenced); a closed one is
# dropped at the next look
_connections: dict[int, sqlite3.Connection] = {}


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _another_of_ours_writes(mine: sqlite3.Connection) -> bool:
    """Whether a connection of this process other than ``mine`` holds the write lock."""
    for key, other in list(_connections.items()):
        try:
            if other is not mine and other.in_transaction:
                return True
        except sqlite3.ProgrammingError:  # closed
            _connections.pop(key, None)
    return False


def _busy_timeout_for_this_thread(conn: Connection, *_: Any) -> None:
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        return
    info = conn.connection.info
    if "own_busy_ms" not in info:
        info["own_busy_ms"] = info["busy_ms"] = dbapi.execute("PRAGMA busy_timeout").fetchone()[0]
        _connections[id(dbapi)] = dbapi
    if not _on_event_loop():
        wanted = info["own_busy_ms"]
    elif _another_of_ours_writes(dbapi):
        wanted = min(BESIDE_OWN_WRITER_MS, _loop_busy_ms)
    else:
        wanted = _loop_busy_ms
    if wanted != info["busy_ms"]:
        dbapi.execute(f"PRAGMA busy_timeout = {int(wanted)}")
        info["busy_ms"] = wanted


def fail_fast_on_event_loops(busy_ms: int = EVENT_LOOP_BUSY_MS) -> None:
    """Make SQLite statements on an event loop's thread wait at most ``busy_ms`` for the lock, in this
    process."""
    global _loop_busy_ms  # one setting per process, read by the listener
    _loop_busy_ms = busy_ms
    if not event.contains(Engine, "before_cursor_execute", _busy_timeout_for_this_thread):
        event.listen(Engine, "before_cursor_execute", _busy_timeout_for_this_thread)
