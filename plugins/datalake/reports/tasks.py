"""The callables and the task layout behind the ``daily_summaries`` DAG (the DAG file only wires them).

The DAG file imports this module at parse time: the plan (which lists S3) is imported by the task.
"""

from __future__ import annotations

from typing import Any

from datalake.config import DatalakeConfig, get_config
from datalake.reports.queries import (
    INVENTORY_QUERIES,
    STRAVA_QUERIES,
    STRAVA_SOURCE,
    SummaryQuery,
    inventory_source,
)


def query_groups(config: DatalakeConfig) -> dict[str, tuple[SummaryQuery, ...]]:
    """The summary queries of each source (one task group per source): Strava, then each inventory."""
    groups = {STRAVA_SOURCE: STRAVA_QUERIES}
    groups.update({inventory_source(inv): INVENTORY_QUERIES for inv in config.inventories})
    return groups


def query_task_ids(config: DatalakeConfig) -> dict[str, dict[str, str]]:
    """source -> summary name -> the id of its query task (``<group>.<task>``)."""
    return {
        source: {summary.name: f"{source}.{summary.task_id}" for summary in summaries}
        for source, summaries in query_groups(config).items()
    }


def find_partitions(params: Any, triggering_asset_events: Any, dag_run: Any) -> dict[str, Any]:
    """The run's plan: the report day and, per inventory configuration, its drop and the previous one."""
    from datalake.reports.plan import plan_for_run

    return plan_for_run(
        get_config(),
        conf_day=(params or {}).get("day"),
        triggering_asset_events=triggering_asset_events,
        run_after=getattr(dag_run, "run_after", None),
    )


def refresh_requests(plan: Any, run_id: str) -> list[dict[str, Any]]:
    """One ``daily_summaries`` run per day of the plan's ``refresh_days`` (earlier days this run's new
    data changed), each with its ``day``; the run id names this run, so a retry triggers nothing twice
    and a later change of the same day triggers it again."""
    from datalake.reports.queries import check_day

    days = [check_day(day, "a day to refresh").isoformat() for day in (plan or {}).get("refresh_days", [])]
    return [{"conf": {"day": day}, "trigger_run_id": f"refresh__{day}__{run_id}"[:250]} for day in days]
