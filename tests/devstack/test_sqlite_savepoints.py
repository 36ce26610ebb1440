"""A backfill creation that SQLite's lock refuses leaves the runs it had taken over as they were.

Airflow's own backfill creation (``airflow.models.backfill._create_backfill``) over two days of a DAG
in the test session's SQLite metadata database: the first day has a manual run that succeeded (the
creation takes it over to reprocess it), the second has none, and the creation's write of the second
day's new run meets "database is locked" (a statement the test's listener refuses, as SQLite would).
Airflow then rolls back and deletes the runs tagged with the refused backfill. Without the stack's
``devstack.sqlite_savepoints`` the manual run is among them; with it, the manual run is still there,
untouched.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from devstack import sqlite_savepoints
from tests.dags import write_dag
from tests.engine_listeners import engine_listener

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def savepoint_nesting(on: bool) -> contextlib.AbstractContextManager[None]:
    """The process with the stack's savepoint nesting on or off (off: as plain Airflow on SQLite is)."""
    return engine_listener(
        "savepoint", sqlite_savepoints._begin_before_savepoint, sqlite_savepoints.nest_savepoints, on=on
    )


def _dag(dag_id: str):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG(dag_id, schedule="@daily", start_date=DAY - timedelta(days=30), catchup=False) as dag:
        EmptyOperator(task_id="work")
    return dag


def _manual_run(dag_id: str, logical_date: datetime) -> str:
    """A manual run of ``logical_date`` that succeeded; returns its run id."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run_id = f"manual__{logical_date.isoformat()}"
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        assert dag is not None
        dag.create_dagrun(
            run_id=run_id,
            logical_date=logical_date,
            data_interval=(logical_date, logical_date + timedelta(days=1)),
            run_after=logical_date + timedelta(days=1),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.SUCCESS,
            session=session,
        )
    return run_id


def _refused_backfill(dag_id: str) -> None:
    """Airflow's backfill creation over the manual run's day and the next, whose new run is refused."""
    from airflow.models.backfill import ReprocessBehavior, _create_backfill

    def refuse_new_run(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DAG_RUN "):
            raise OperationalError(statement, parameters, sqlite3.OperationalError("database is locked"))

    event.listen(Engine, "before_cursor_execute", refuse_new_run)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            _create_backfill(
                dag_id=dag_id,
                from_date=DAY,
                to_date=DAY + timedelta(days=1),
                max_active_runs=1,
                reverse=False,
                dag_run_conf=None,
                triggering_user_name=None,
                reprocess_behavior=ReprocessBehavior.COMPLETED,
            )
    finally:
        event.remove(Engine, "before_cursor_execute", refuse_new_run)


def _runs(dag_id: str) -> dict[str, tuple[str, int | None]]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return {r.run_id: (r.state, r.backfill_id) for r in DagRun.find(dag_id=dag_id, session=session)}


def test_without_nesting_the_refused_backfill_deletes_the_run_it_took_over(airflow_db):
    dag_id = "refused_backfill_plain"
    write_dag(_dag(dag_id))
    run_id = _manual_run(dag_id, DAY)
    with savepoint_nesting(on=False):
        _refused_backfill(dag_id)
    assert run_id not in _runs(dag_id)


def test_with_nesting_the_refused_backfill_leaves_the_run_it_took_over(airflow_db):
    dag_id = "refused_backfill_nested"
    write_dag(_dag(dag_id))
    run_id = _manual_run(dag_id, DAY)
    with savepoint_nesting(on=True):
        _refused_backfill(dag_id)
    assert _runs(dag_id) == {run_id: ("success", None)}
