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
busy timeout of :data:`EVENT_LOOP_BUSY_MS`: the INSERT is refused after a second, the loop runs on, the
other request commits, and the refused call answers 500, which the stack's clients retry
(``AirflowServer.api``, the Strava token store). Statements on any other thread keep the connection's
own timeout. PostgreSQL, the production database, locks rows, not the database, and is left alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

EVENT_LOOP_BUSY_MS = 1000


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _busy_timeout_for_this_thread(conn: Connection, *_: Any) -> None:
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        return
    info = conn.connection.info
    if "own_busy_ms" not in info:
        info["own_busy_ms"] = info["busy_ms"] = dbapi.execute("PRAGMA busy_timeout").fetchone()[0]
    wanted = EVENT_LOOP_BUSY_MS if _on_event_loop() else info["own_busy_ms"]
    if wanted != info["busy_ms"]:
        dbapi.execute(f"PRAGMA busy_timeout = {int(wanted)}")
        info["busy_ms"] = wanted


def fail_fast_on_event_loops() -> None:
    """Make SQLite statements on an event loop's thread wait at most a second for the lock, in this
    process."""
    if not event.contains(Engine, "before_cursor_execute", _busy_timeout_for_this_thread):
        event.listen(Engine, "before_cursor_execute", _busy_timeout_for_this_thread)
