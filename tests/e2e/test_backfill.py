"""Backfills are safe to repeat: a second backfill over the same days, reprocessing the runs that already
succeeded, leaves the same S3 objects (keys and ETags), Glue partitions and query answers as the first.

Runs on the embedded stack through the scheduler, for every DAG with a time schedule (the Strava DAG and
each inventory configuration's DAG), with ``make backfill``'s code: ``POST /api/v2/backfills``, the
request ``airflow backfill create`` makes. ``BACKFILL_DAYS`` days (3 by default; a month:
``BACKFILL_DAYS=30 .venv/bin/pytest tests/e2e/test_backfill.py``) up to the day before yesterday, each
DAG from its configured first day on; the test writes the inventory drops those days need. The DAGs'
backfills of a round run at once, as a person backfilling every source over a month would start them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from datalake.strava.layout import (
    BACKLOG_KEY,
    GEAR_TABLE,
    detail_raw_prefix,
    raw_prefix,
    run_label,
    table_prefix,
)
from datalake.strava.tasks import detail_tables
from devstack import backfill
from devstack.stack import Stack, write_inventory_drops
from tests.athena import run_sql

DAYS = int(os.environ.get("BACKFILL_DAYS", "3"))
SUMMARIES = "daily_summaries"

TIMEOUT = 600 + 60 * DAYS  # per backfill

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(6 * TIMEOUT)]  # two rounds, three DAGs


def run_backfill(
    stack: Stack, dag_id: str, start: datetime, end: datetime, reprocess: str
) -> list[dict[str, Any]]:
    """Backfill ``dag_id`` over ``[start, end]`` from its configured first day on (a longer
    ``BACKFILL_DAYS`` reaches before it), wait until it is done, and return its runs."""
    first_day = backfill.first_day(stack.config, dag_id)
    if first_day is not None:
        start = max(start, datetime.combine(first_day[0], datetime.min.time(), UTC))
    return backfill.run(
        stack.airflow,
        dag_id,
        start,
        end,
        reprocess=reprocess,
        max_active_runs=2,
        timeout=TIMEOUT,
        config=stack.config,
    )


def backfill_all(
    stack: Stack, dag_ids: list[str], start: datetime, end: datetime, reprocess: str
) -> dict[str, list[dict[str, Any]]]:
    """:func:`run_backfill` of every DAG of ``dag_ids`` at once; their runs by DAG."""
    with ThreadPoolExecutor(max_workers=len(dag_ids)) as pool:
        futures = {d: pool.submit(run_backfill, stack, d, start, end, reprocess) for d in dag_ids}
        return {dag_id: future.result() for dag_id, future in futures.items()}


def s3_objects(stack: Stack, bucket: str, prefixes: list[str]) -> dict[str, str]:
    s3 = stack.aws_client("s3")
    found = {}
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[f"s3://{bucket}/{item['Key']}"] = item["ETag"]
    return found


def partitions(stack: Stack, database: str, table: str, values: set[str]) -> dict[str, Any]:
    glue = stack.aws_client("glue")
    found = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for part in page["Partitions"]:
            if part["Values"][0] in values:
                sd = part["StorageDescriptor"]
                found[part["Values"][0]] = {
                    "location": sd["Location"],
                    "columns": [(c["Name"], c["Type"]) for c in sd.get("Columns", [])],
                }
    return found


def query(stack: Stack, sql: str, database: str) -> list[list[str | None]]:
    results = f"s3://{stack.config.athena.results_bucket}/tests/backfill/"
    return run_sql(stack.aws_client("athena"), sql, database=database, output_location=results)


def snapshot(stack: Stack, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The state the backfilled intervals own: lake and result objects, partitions, query answers."""
    config = stack.config
    strava_days = sorted(r["data_interval_start"][:10] for r in runs["strava_activities"])
    results = config.athena.results_prefix
    state: dict[str, Any] = {
        "lake": s3_objects(
            stack,
            config.lake.bucket,
            [f"curated/strava/activities/dt={day}/" for day in strava_days]
            # with strava.details: the day tables, the raw detailed views, the gear and the backlog
            + [
                f"{table_prefix(t)}dt={day}/"
                for t in detail_tables(config)
                if t != GEAR_TABLE
                for day in strava_days
            ]
            + [detail_raw_prefix(date.fromisoformat(day)) for day in strava_days]
            + ([table_prefix(GEAR_TABLE), BACKLOG_KEY] if config.strava.details else [])
            + [
                raw_prefix(run_label(datetime.fromisoformat(r["data_interval_start"])))
                for r in runs["strava_activities"]
            ],
        ),
        "results": s3_objects(
            stack, config.athena.results_bucket, [f"{results}/strava_activities/{d}/" for d in strava_days]
        ),
        "strava_partitions": partitions(stack, config.strava.database, config.strava.table, set(strava_days)),
    }
    in_strava = ", ".join(f"'{d}'" for d in strava_days)
    state["strava_rows"] = query(
        stack,
        f"SELECT dt, count(*), count(DISTINCT id) FROM {config.strava.table} "  # noqa: S608 (our names)
        f"WHERE dt IN ({in_strava}) GROUP BY dt ORDER BY dt",
        config.strava.database,
    )
    if config.strava.details:
        state["strava_detail_rows"] = query(
            stack,
            f"SELECT dt, count(*), sum(laps), sum(splits) FROM activity_details "  # noqa: S608 (our names)
            f"WHERE dt IN ({in_strava}) GROUP BY dt ORDER BY dt",
            config.strava.database,
        )
    for inv in config.inventories:
        days = sorted(r["logical_date"][:10] for r in runs[inv.dag_id])
        state["results"].update(
            s3_objects(stack, config.athena.results_bucket, [f"{results}/{inv.dag_id}/{d}/" for d in days])
        )
        found = partitions(stack, inv.database, inv.table, set(_all_values(stack, inv.database, inv.table)))
        drop_values = sorted(v for v in found if any(v.startswith(d) for d in _next_days(days)))
        state[f"{inv.name}_partitions"] = {v: found[v] for v in drop_values}
        in_inventory = ", ".join(f"'{v}'" for v in drop_values)
        state[f"{inv.name}_rows"] = query(
            stack,
            f"SELECT dt, count(*), sum(size) FROM {inv.table} "  # noqa: S608 (names from the config)
            f"WHERE dt IN ({in_inventory}) GROUP BY dt ORDER BY dt",
            inv.database,
        )
    return state


def _all_values(stack: Stack, database: str, table: str) -> list[str]:
    glue = stack.aws_client("glue")
    return [
        part["Values"][0]
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
        for part in page["Partitions"]
    ]


def _next_days(days: list[str]) -> list[str]:
    """A daily inventory run takes the drop dated the day its interval ends."""
    return [(datetime.fromisoformat(d) + timedelta(days=1)).date().isoformat() for d in days]


def test_a_second_backfill_reprocessing_every_run_leaves_the_same_state(stack):
    config = stack.config
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=DAYS + 1), today - timedelta(days=2)
    write_inventory_drops(stack.state.aws_url, config, today=today.date(), days=DAYS + 2)
    dag_ids = ["strava_activities", *(inv.dag_id for inv in config.inventories)]
    stack.airflow.wait_for_dags(dag_ids)

    with summaries_paused(stack):
        first = backfill_all(stack, dag_ids, start, end, "failed")
        for dag_id, runs in first.items():
            assert len(runs) >= min(DAYS - 1, 1), f"{dag_id}: {len(runs)} runs"
            assert {r["dag_run_id"]: r["state"] for r in runs} == {r["dag_run_id"]: "success" for r in runs}
        before = snapshot(stack, first)
        assert before["lake"], "the backfill wrote nothing to the lake"
        assert len(before["strava_partitions"]) == len(first["strava_activities"])
        for inv in config.inventories:
            assert len(before[f"{inv.name}_partitions"]) == len(first[inv.dag_id])

        time.sleep(1)  # a rewrite of the same bytes would still change LastModified, never the ETag
        second = backfill_all(stack, dag_ids, start, end, "completed")
        for dag_id, runs in second.items():
            # the same runs, reprocessed: none replaced by a new run (another run id: new Athena queries)
            assert [r["dag_run_id"] for r in runs] == [r["dag_run_id"] for r in first[dag_id]]
            assert {r["dag_run_id"]: r["state"] for r in runs} == {r["dag_run_id"]: "success" for r in runs}
        after = snapshot(stack, second)

    assert after == before


@contextlib.contextmanager
def summaries_paused(stack: Stack) -> Iterator[None]:
    """``daily_summaries`` paused for the block, as it was after: the backfilled runs' asset events
    would start summaries runs, which this test does not check, on the stack the backfill runs on (the
    events wait in the DAG's window, which the next asset-triggered run takes)."""
    airflow = stack.airflow
    was_paused = airflow.api("GET", f"/dags/{SUMMARIES}")["is_paused"]
    airflow.api("PATCH", f"/dags/{SUMMARIES}", json={"is_paused": True})
    try:
        yield
    finally:
        airflow.api("PATCH", f"/dags/{SUMMARIES}", json={"is_paused": was_paused})
