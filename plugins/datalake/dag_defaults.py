"""The one shape every DAG of the package is built in, and what they all share.

A DAG file is a table of contents: its module docstring (the DAG's page in the UI), one function
under ``@dag(schedule=..., **dag_args(...))`` whose body wires the tasks (``@task`` wrappers of one line
each, calling ``datalake.<domain>.tasks``, and the package's Athena operators), and the call that builds
it. A file
that builds one DAG per configuration entry calls its function once per entry.

``dag_args`` fills in what the policy tests hold every DAG to: owner, retries with backoff, a time
limit, failure alerts at task and DAG level, tags from the agreed list (a misspelt tag fails the parse
instead of disappearing), the SQL folder and strict templates, no catchup.

**Start dates.** A configured start date (``strava.start_date``, ``inventories[].start_date``) is the
first day of data, not Airflow's ``start_date``: Airflow creates no task instance for a run before its
DAG's start date, so such a run (a manual run or backfill of last year) would show green having done
nothing. Every DAG therefore starts at :data:`DAG_START`, long before any data, and the first task of a
run checks the configured day (:func:`check_first_day`), failing with the key to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jinja2

from datalake.config import SQL_DIR, get_config

# Every task talks to S3, Glue, Athena or Strava: none may hang for ever. Tasks that need longer (the
# Strava extraction, Athena queries) set their own; sensors are bounded by their ``timeout`` too.
TASK_TIMEOUT = timedelta(hours=1)

# The agreed tag list: every DAG's tags come from here (dag_args refuses any other).
TAGS = frozenset({"strava", "s3-inventory", "athena", "reports", "maintenance", "datalake"})

# Airflow's start date of every DAG: before any data, so that every run gets its tasks (see above).
DAG_START = datetime(2000, 1, 1, tzinfo=UTC)


def default_args(**overrides: Any) -> dict[str, Any]:
    """``default_args`` for a DAG of this package: owner, retries with backoff, a time limit, and the
    task-level failure alert (sent on the final failure only, see :mod:`datalake.alerts`)."""
    from datalake.alerts import task_failure_alert

    config = get_config()
    args: dict[str, Any] = {
        "owner": config.owner,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": [task_failure_alert()],
    }
    args.update(overrides)
    return args


def dag_failure_callbacks() -> list[Any]:
    """The DAG-level failure callback: alerts for failed tasks that could not alert themselves."""
    from datalake.alerts import dag_failure_alert

    return [dag_failure_alert()]


def dag_args(
    dag_id: str,
    *,
    description: str,
    doc_md: str | None,
    tags: Iterable[str],
    **extra: Any,
) -> dict[str, Any]:
    """The keyword arguments of ``@dag`` but its ``schedule``, which the DAG file states itself
    (``extra`` adds or overrides)."""
    unknown = sorted(set(tags) - TAGS)
    if unknown:
        raise ValueError(f"DAG {dag_id}: tags {unknown} are not in the agreed list {sorted(TAGS)}")
    return {
        "dag_id": dag_id,
        "description": description,
        "doc_md": doc_md,
        "start_date": DAG_START,
        "catchup": False,
        "default_args": default_args(),
        "on_failure_callback": dag_failure_callbacks(),
        "template_searchpath": [str(SQL_DIR)],
        "template_undefined": jinja2.StrictUndefined,
        "tags": sorted(tags),
        **extra,
    }


def check_first_day(first_day: str, key: str, interval_start: datetime | None) -> None:
    """Fail a run whose data interval starts before the configured first day ``first_day`` (``key``)."""
    from airflow.sdk.exceptions import AirflowFailException

    if interval_start is None:
        return
    day = interval_start.astimezone(UTC).date()
    if day < date.fromisoformat(first_day):
        raise AirflowFailException(
            f"This run is for {day.isoformat()}, before {key} = {first_day} in {get_config().source}: the "
            f"pipeline takes no data before that day. To take earlier days, set {key} to the first day "
            "you want (every scheduler, dag-processor and worker reads the file) and run them again."
        )
