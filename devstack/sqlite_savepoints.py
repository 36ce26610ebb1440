"""Savepoints that nest on SQLite: what the embedded Airflow's metadata database needs for backfills.

Python's ``sqlite3`` opens a transaction only before an INSERT, UPDATE or DELETE. A savepoint that
SQLAlchemy starts after a commit (``Session.begin_nested()``) is then the outermost transaction, and
SQLite commits it when it is released. Airflow's backfill creation takes over each existing run of its
range in a savepoint of its own (``airflow.models.backfill``): on SQLite every take-over is committed at
once. When a later write of the same creation meets the lock ("database is locked"), Airflow rolls back
and deletes the runs tagged with the refused backfill, which now include the runs it took over: a
scheduled or manual run of a day disappears with its task instances and XComs, and the next request
creates a new run (another run id) in its place (measured, Airflow 3.3 on SQLite).

:func:`nest_savepoints` begins a real transaction before such a savepoint, ``BEGIN IMMEDIATE``: the
savepoint nests in it, a rollback undoes it, and the write lock is taken (waiting up to SQLite's busy
timeout) before the first read, so the creation's later writes cannot meet a lock. A savepoint inside
a transaction, and any other database, is left as it is. PostgreSQL, the production database, nests
savepoints itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _begin_before_savepoint(conn: Connection, _name: Any) -> None:
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        dbapi.execute("BEGIN IMMEDIATE")


def nest_savepoints() -> None:
    """Make every SQLAlchemy savepoint on SQLite nest in a transaction, in this process."""
    if not event.contains(Engine, "savepoint", _begin_before_savepoint):
        event.listen(Engine, "savepoint", _begin_before_savepoint)
