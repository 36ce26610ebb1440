"""The callables and the task layout behind the ``daily_summaries`` DAG (the DAG file only wires them).

The DAG file imports this module at parse time: the plan (which lists S3) is imported by the task.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from datalake.config import DatalakeConfig, get_config
from datalake.reports.queries import (
    INVENTORY_QUERIES,
    STRAVA_SOURCE,
    SummaryQuery,
    inventory_source,
    strava_queries,
)

log = logging.getLogger(__name__)


def query_groups(config: DatalakeConfig) -> dict[str, tuple[SummaryQuery, ...]]:
    """The summary queries of each source (one task group per source): Strava, then each inventory."""
    groups = {STRAVA_SOURCE: strava_queries(config)}
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


def alert_anomalies(plan: Any, run_id: str, config: DatalakeConfig | None = None) -> list[str]:
    """Send each inventory's anomaly alert of the run's day, once per inventory and day; return the
    inventories alerted.

    The anomalies are those of the day's stored document, written by this run's publish task (a document
    another run wrote is left to that run). Each alert sent is recorded in the document's ``alerts``,
    which a later report of the same day keeps (``document.build_report``), so a rerun, a refresh or a
    second backfill of the day alerts no more. The record is written once the notifier took the alert: a
    send that fails leaves none, and the task's failure alerts and a retry sends it again.
    """
    from datalake.alerts import AnomalyAlert, send
    from datalake.reports.operators import report_url
    from datalake.reports.plan import checked_plan
    from datalake.reports.store import ReportStore

    config = config or get_config()
    if plan is None:  # the plan failed: there is no report of this run
        return []
    day = checked_plan(plan, config)["day"]
    store = ReportStore(config)
    document = store.read_summary(day)
    if document is None or document.get("run_id") != run_id:
        log.info("The report of %s is not this run's (its publish task wrote none): nothing to alert", day)
        return []
    alerts = document.setdefault("alerts", {})
    sent = []
    for inventory in config.inventories:
        source = inventory_source(inventory)
        entry = document["sources"].get(source) or {}
        found = (entry.get("insights") or {}).get("anomalies") or []
        if not found:
            continue
        if source in alerts:
            log.info("%s: %d anomalies on %s, alerted before (%s)", source, len(found), day, alerts[source])
            continue
        previous = entry["insights"].get("previous") or {}
        alert = AnomalyAlert(
            inventory=inventory.name,
            bucket=inventory.source_bucket,
            day=day,
            dt=entry["values"]["dt"],
            previous=previous.get("day"),
            anomalies=tuple(a["text"] for a in found),
            report_url=report_url(day),
        )
        send(alert, config)
        stamp = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        alerts[source] = {"sent_at": stamp, "run_id": run_id, "anomalies": len(found)}
        store.write_summary(day, document)
        sent.append(inventory.name)
    return sent
