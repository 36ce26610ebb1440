"""The plan of one summaries run: which day it reports, and which sources have data for it.

The report day is, in this order: the ``day`` the run was triggered with (a manual run or a re-run of a
past day), the newest day the triggering events changed, or the run's own date (UTC). An event changes
a day through its extra: an inventory drop's ``dt`` (the day of the drop), and any producer's ``days``
(the days it rewrote, e.g. Strava's reconciled days). The other days the events changed that already
have a report are the plan's ``refresh_days``: the DAG reports each of them again in a run of its own
(a day rewritten after its report was written gets its report refreshed; a day never reported, such as
history a backfill just brought in, does not start one).

A source is summarised only when its data is there; otherwise it is skipped with the reason the report
shows, never failed and never alerted (a user without Strava, a Strava DAG not run yet, an inventory DAG
still paused):

- Strava: the table ``strava.database``.``strava.table`` in the Glue Data Catalog, with a partition in
  the days the summaries read (from the start of last year to the report day).
- each inventory configuration: a drop on or before the day (the one that triggered the run, or the
  newest ``hive/dt=...`` folder, listing only the last weeks of them so the cost stays flat as history
  grows), its table, and that drop registered as a partition (unless the table uses partition
  projection). The drop it is compared with is the newest earlier one that is registered.

A run in which no source has data for the day fails, naming each source's reason (:func:`plan_for_run`):
a run that did nothing never shows green.

The plan reaches the query tasks and the publish task as an XCom, and XComs can be edited through the
REST API: :func:`checked_plan` checks it again where it is used. The day and the partition values must
be well formed, and every SQL value is derived again from them and the configuration.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from datalake.config import DatalakeConfig, InventoryConfig
from datalake.inventory.layout import check_dt, partitions_since
from datalake.reports.queries import (
    STRAVA_SOURCE,
    TIERS_COLUMN,
    check_day,
    inventory_source,
    inventory_values,
    strava_values,
)

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 40  # covers weekly inventories and a late or missed drop or two
STRAVA_DAG_ID = "strava_activities"
STRAVA_TITLE = "Training (Strava)"


def list_partitions(s3_client: Any, inventory: InventoryConfig, day: date) -> list[str]:
    """The ``dt`` values of the drops of ``inventory`` from ``LOOKBACK_DAYS`` before ``day`` onward."""
    since = day - timedelta(days=LOOKBACK_DAYS)
    found, strays = partitions_since(s3_client, inventory.destination_bucket, inventory.base_prefix, since)
    for stray in strays:
        log.warning("Ignoring %sdt=%s/: not a dt=YYYY-MM-DD-HH-MM folder", inventory.hive_location, stray)
    return found


def choose_partition(available: list[str], day: date, triggered_dt: str | None) -> str | None:
    """The drop the report shows: the one that triggered the run, or the newest on or before ``day``."""
    if triggered_dt:
        return check_dt(triggered_dt)
    on_or_before = [d for d in available if d[:10] <= day.isoformat()]
    return on_or_before[-1] if on_or_before else None


def report_day(conf_day: str | None, changed_days: set[str], run_after: datetime | None) -> str:
    if conf_day:
        return check_day(conf_day, "the run's 'day' parameter").isoformat()
    if changed_days:
        return max(changed_days)
    if run_after is None:
        raise ValueError("cannot tell the report day: no 'day' parameter, no changed day, no run date")
    return run_after.date().isoformat()


def changed_days(triggering_asset_events: Any) -> set[str]:
    """Every day the triggering events changed: each event's ``dt`` (an inventory drop's day) and
    ``days`` (the days a producer rewrote), each checked."""
    days: set[str] = set()
    for events in (triggering_asset_events or {}).values():
        for event in events or []:
            extra = getattr(event, "extra", None) or {}
            if extra.get("dt"):
                days.add(check_dt(extra["dt"], "an asset event's dt")[:10])
            listed = extra.get("days") or []
            if not isinstance(listed, list):
                raise ValueError(f"an asset event's days must be a list of days, got {listed!r}")
            days.update(check_day(day, "an asset event's day").isoformat() for day in listed)
    return days


def triggering_dts(triggering_asset_events: Any, config: DatalakeConfig) -> dict[str, str]:
    """``{inventory name: dt}`` from the inventory asset events that triggered the run (newest wins)."""
    from datalake.assets import inventory_asset

    by_name: dict[str, str] = {}
    if not triggering_asset_events:
        return by_name
    for inventory in config.inventories:
        asset = inventory_asset(inventory)
        try:
            events = triggering_asset_events[asset]
        except KeyError:
            continue
        for event in events or []:
            dt = (getattr(event, "extra", None) or {}).get("dt")
            if dt:
                by_name[inventory.name] = max(by_name.get(inventory.name, ""), check_dt(dt))
    return by_name


# -- what the Glue Data Catalog holds -----------------------------------------------------------------------
def table_columns(glue_client: Any, database: str, table: str) -> set[str] | None:
    """The column names of ``database.table``, None when it does not exist (nor its database)."""
    try:
        found = glue_client.get_table(DatabaseName=database, Name=table)["Table"]
    except glue_client.exceptions.EntityNotFoundException:
        return None
    return {column["Name"].lower() for column in found.get("StorageDescriptor", {}).get("Columns", [])}


def has_table(glue_client: Any, database: str, table: str) -> bool:
    """Whether ``database.table`` exists (a missing database is no table either)."""
    return table_columns(glue_client, database, table) is not None


def has_partition_between(glue_client: Any, database: str, table: str, first: str, last: str) -> bool:
    """Whether the table has a ``dt`` partition from ``first`` to ``last`` (ISO days, checked)."""
    expression = f"dt BETWEEN '{check_day(first).isoformat()}' AND '{check_day(last).isoformat()}'"
    pages = glue_client.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table, Expression=expression, PaginationConfig={"PageSize": 1}
    )
    return any(page.get("Partitions") for page in pages)


def registered_partitions(glue_client: Any, inventory: InventoryConfig, dts: list[str]) -> set[str]:
    """Those of ``dts`` that are partitions of the inventory's table (one call per 1,000)."""
    found: set[str] = set()
    for start in range(0, len(dts), 1000):
        answer = glue_client.batch_get_partition(
            DatabaseName=inventory.database,
            TableName=inventory.table,
            PartitionsToGet=[{"Values": [dt]} for dt in dts[start : start + 1000]],
        )
        found.update(p["Values"][0] for p in answer.get("Partitions", []))
    return found


# -- the sources ------------------------------------------------------------------------------------------
def strava_entry(config: DatalakeConfig, glue_client: Any, day: str) -> dict[str, Any]:
    values = strava_values(config, day)
    database, table = values["database"], values["table"]
    entry: dict[str, Any] = {"kind": "strava", "title": STRAVA_TITLE, "values": None}
    if not has_table(glue_client, database, table):
        entry["reason"] = (
            f"no data yet, the {STRAVA_DAG_ID} DAG has not run (there is no table {database}.{table})"
        )
    elif not has_partition_between(glue_client, database, table, values["last_year_start"], day):
        entry["reason"] = (
            f"no data yet for {values['last_year_start']} to {day}: the {STRAVA_DAG_ID} DAG has not run for "
            "any of those days"
        )
    else:
        entry["values"] = values
    return entry


def inventory_entry(
    config: DatalakeConfig,
    inventory: InventoryConfig,
    s3_client: Any,
    glue_client: Any,
    day: str,
    triggered_dt: str | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "inventory",
        "inventory": inventory.name,
        "title": f"Storage: s3://{inventory.source_bucket} ({inventory.name})",
        "values": None,
    }
    available = list_partitions(s3_client, inventory, check_day(day))
    dt = choose_partition(available, check_day(day), triggered_dt)
    earlier = [d for d in available if dt and d < dt]
    columns = table_columns(glue_client, inventory.database, inventory.table) if dt else None
    tiers = TIERS_COLUMN in (columns or ())
    if dt is None:
        entry["reason"] = f"no inventory drop on or before {day} in {inventory.hive_location}"
    elif columns is None:
        entry["reason"] = (
            f"no data yet, the {inventory.dag_id} DAG has not run (there is no table "
            f"{inventory.database}.{inventory.table})"
        )
    elif inventory.partition_projection:  # the table reads every drop in its location
        previous = earlier[-1] if earlier else None
        entry["values"] = inventory_values(config, inventory, dt, previous, day=day, tiers=tiers)
    else:
        registered = registered_partitions(glue_client, inventory, [dt, *earlier])
        previous = [d for d in earlier if d in registered]
        if dt not in registered:
            entry["reason"] = (
                f"the drop dt={dt} has landed but is not registered yet: the {inventory.dag_id} DAG has "
                "not run for it (is it paused?)"
            )
        else:
            before = previous[-1] if previous else None
            entry["values"] = inventory_values(config, inventory, dt, before, day=day, tiers=tiers)
    if entry["values"] is None:
        log.info("Inventory %s: skipped, %s", inventory.name, entry["reason"])
    else:
        previous_dt = entry["values"]["previous_dt"]
        log.info(
            "Inventory %s: summarising drop dt=%s against %s",
            inventory.name,
            dt,
            f"dt={previous_dt}" if previous_dt else "nothing (first drop)",
        )
    return entry


def plan_summaries(
    config: DatalakeConfig,
    s3_client: Any,
    glue_client: Any,
    *,
    day: str,
    triggered: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The plan as an XCom-friendly dict: ``{"day": ..., "sources": {source: {...}}}``.

    A source entry holds ``values`` (the SQL template values), or ``None`` and the ``reason`` the report
    shows when the source has no data for that day.
    """
    triggered = triggered or {}
    day = check_day(day).isoformat()
    sources: dict[str, Any] = {STRAVA_SOURCE: strava_entry(config, glue_client, day)}
    if sources[STRAVA_SOURCE]["values"] is None:
        log.info("Strava: skipped, %s", sources[STRAVA_SOURCE]["reason"])
    for inventory in config.inventories:
        entry = inventory_entry(config, inventory, s3_client, glue_client, day, triggered.get(inventory.name))
        sources[inventory_source(inventory)] = entry
    return {"day": day, "sources": sources}


def nothing_to_report(plan: dict[str, Any]) -> str | None:
    """Why the plan's day has nothing to report (every source's reason), or None when it has something."""
    if any(entry.get("values") for entry in plan["sources"].values()):
        return None
    reasons = "; ".join(f"{source}: {entry.get('reason')}" for source, entry in plan["sources"].items())
    return f"No source has data for {plan['day']}, there is nothing to report. {reasons}"


def plan_for_run(
    config: DatalakeConfig,
    *,
    conf_day: str | None,
    triggering_asset_events: Any,
    run_after: datetime | None,
) -> dict[str, Any]:
    """The plan of one DAG run (what the ``find_partitions`` task returns); fails the run, without
    retries, when no source has data for the day."""
    from airflow.sdk.exceptions import AirflowFailException

    from datalake import aws
    from datalake.reports.store import ReportStore

    triggered = triggering_dts(triggering_asset_events, config)
    days = set() if conf_day else changed_days(triggering_asset_events)
    day = report_day(conf_day, days, run_after)
    log.info(
        "Report day %s (%s)",
        day,
        "as asked" if conf_day else "the newest day the new data changed" if days else "the run's date",
    )
    # only the drops of the report day are the triggered ones; a day refreshed later finds its own
    triggered = {name: dt for name, dt in triggered.items() if dt[:10] == day}
    plan = plan_summaries(config, aws.s3(config), aws.glue(config), day=day, triggered=triggered)
    reason = nothing_to_report(plan)
    if reason:
        raise AirflowFailException(reason)
    earlier = days - {day}
    plan["refresh_days"] = sorted(earlier & set(ReportStore(config).list_days())) if earlier else []
    if plan["refresh_days"]:
        log.info("Reports refreshed in runs of their own: %s", ", ".join(plan["refresh_days"]))
    return plan


# -- the plan read back from XCom --------------------------------------------------------------------------
def checked_entry(plan: Any, source: str, config: DatalakeConfig) -> dict[str, Any]:
    """``source``'s entry of ``plan`` (an XCom), with its SQL values derived again from the configuration,
    the plan's day and its partition values, each checked; a ValueError names what is wrong."""
    if not isinstance(plan, dict) or not isinstance(plan.get("sources"), dict):
        raise ValueError(f"the plan (XCom of find_partitions) is not a plan: {type(plan).__name__}")
    day = check_day(plan.get("day"), "the plan's day").isoformat()
    entry = plan["sources"].get(source)
    if not isinstance(entry, dict):
        raise ValueError(f"the plan (XCom of find_partitions) has no entry for the source {source!r}")
    values = entry.get("values")
    if not values:
        return {**entry, "values": None, "reason": str(entry.get("reason") or "no data for this day")}
    if not isinstance(values, dict):
        raise ValueError(f"the plan's values of {source!r} are not a mapping: {type(values).__name__}")
    where = f"the plan's {source!r}"
    if source == STRAVA_SOURCE:
        checked = strava_values(config, day)
    else:
        inventory = next((inv for inv in config.inventories if inventory_source(inv) == source), None)
        if inventory is None:
            raise ValueError(f"{where}: no inventory configuration has that source name")
        dt = check_dt(values.get("dt"), f"{where} dt")
        previous_dt = values.get("previous_dt") or None
        if previous_dt is not None:
            check_dt(previous_dt, f"{where} previous dt")
        tiers = values.get("tiers", "")
        if tiers not in ("yes", ""):
            raise ValueError(f"{where} tiers must be 'yes' or empty, got {tiers!r}")
        checked = inventory_values(config, inventory, dt, previous_dt, day=day, tiers=tiers == "yes")
    return {**entry, "values": checked}


def checked_plan(plan: Any, config: DatalakeConfig) -> dict[str, Any]:
    """The whole plan (an XCom) checked as :func:`checked_entry` checks one source, for every source the
    configuration has."""
    sources = [STRAVA_SOURCE, *(inventory_source(inv) for inv in config.inventories)]
    entries = {source: checked_entry(plan, source, config) for source in sources}
    return {"day": check_day(plan["day"], "the plan's day").isoformat(), "sources": entries}
