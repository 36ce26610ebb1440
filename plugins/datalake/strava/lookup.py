"""The day an activity is in, from what the lake holds: one Athena query over the table's id column.

A push event names only an activity id; a deleted activity cannot be fetched from Strava any more
(404), so its day comes from the curated table (``include/sql/strava/activity_days.sql``). The query
reads the id column of the table's day snapshots (8 bytes an activity, and Parquet's statistics skip
most row groups): a few hundred KB even for 50,000 activities, billed as Athena's 10 MB minimum
(USD 0.00005 at USD 5 per TB), a few seconds. No index is kept next to the table, so there is nothing
that could disagree with it. An id the table does not hold has no day (an activity newer than the last
run, or one deleted before any run listed it).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from typing import Any

import jinja2

from datalake.config import SQL_DIR, DatalakeConfig

log = logging.getLogger(__name__)

TEMPLATE = "strava/activity_days.sql"
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
POLL_SECONDS = 0.5


def render(config: DatalakeConfig, ids: list[int]) -> str:
    """The lookup's SQL for ``ids`` (integers, checked here: they reach the SQL as literals)."""
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ValueError(f"activity ids must be positive integers, got {ids[:5]!r}")
    env = jinja2.Environment(  # noqa: S701 - renders SQL, not HTML
        loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=jinja2.StrictUndefined
    )
    values = {"database": config.strava.database, "table": config.strava.table, "ids": sorted(set(ids))}
    return env.get_template(TEMPLATE).render(**values)


def _table_exists(glue: Any, config: DatalakeConfig) -> bool:
    try:
        glue.get_table(DatabaseName=config.strava.database, Name=config.strava.table)
    except glue.exceptions.EntityNotFoundException:
        return False
    return True


def activity_days(config: DatalakeConfig, ids: list[int], *, athena: Any, glue: Any) -> dict[int, date]:
    """The day of each of ``ids`` that the table holds (an id in no day is left out)."""
    from datalake.reports.queries import fetch_results

    if not ids:
        return {}
    if not _table_exists(glue, config):
        log.info("No table %s.%s yet: no activity has a day", config.strava.database, config.strava.table)
        return {}
    started = athena.start_query_execution(
        QueryString=render(config, ids),
        QueryExecutionContext={"Database": config.strava.database},
        ResultConfiguration={
            "OutputLocation": config.athena.output_location("strava_activities", "lookups", uuid.uuid4().hex)
        },
        WorkGroup=config.athena.workgroup,
    )
    query_id = started["QueryExecutionId"]
    deadline = time.monotonic() + config.athena.query_timeout_minutes * 60
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in FINISHED:
            break
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise TimeoutError(
                f"the activity-day lookup {query_id} did not finish within athena.query_timeout_minutes"
            )
        time.sleep(POLL_SECONDS)
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(
            f"the activity-day lookup {query_id} {status['State']}: {status.get('StateChangeReason', '?')}"
        )
    days = {int(row["id"]): date.fromisoformat(str(row["dt"])) for row in fetch_results(athena, query_id)}
    log.info("Activity-day lookup %s: %d of %d ids are in the lake", query_id, len(days), len(set(ids)))
    return days
