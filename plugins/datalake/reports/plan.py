"""The plan of one summaries run: which day it reports, which inventory partitions it reads.

The report day is, in this order: the ``day`` the run was triggered with (a manual run or a
re-run of a past day), the newest inventory drop that triggered the run, or the run's own date (UTC).
For each inventory configuration the plan picks the drop of that day (the one that triggered the
run, or the newest whose ``dt`` falls on or before the day) and the drop before it, found by listing
only the last weeks of ``hive/dt=...`` folders, so the cost stays flat as history grows.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from datalake.config import DatalakeConfig, InventoryConfig
from datalake.inventory.layout import check_dt, partitions_since
from datalake.reports.queries import (
    STRAVA_SOURCE,
    check_day,
    inventory_source,
    inventory_values,
    strava_values,
)

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 40  # covers weekly inventories and a late or missed drop or two


def list_partitions(s3_client: Any, inventory: InventoryConfig, day: date) -> list[str]:
    """The ``dt`` values of the drops of ``inventory`` from ``LOOKBACK_DAYS`` before ``day`` onward."""
    since = day - timedelta(days=LOOKBACK_DAYS)
    found, strays = partitions_since(s3_client, inventory.destination_bucket, inventory.base_prefix, since)
    for stray in strays:
        log.warning("Ignoring %sdt=%s/: not a dt=YYYY-MM-DD-HH-MM folder", inventory.hive_location, stray)
    return found


def choose_partitions(
    available: list[str], day: date, triggered_dt: str | None
) -> tuple[str | None, str | None]:
    """``(dt, previous_dt)``: the drop the report shows and the one before it (either may be None)."""
    if triggered_dt:
        dt: str | None = check_dt(triggered_dt)
    else:
        on_or_before = [d for d in available if d[:10] <= day.isoformat()]
        dt = on_or_before[-1] if on_or_before else None
    if dt is None:
        return None, None
    earlier = [d for d in available if d < dt]
    return dt, (earlier[-1] if earlier else None)


def report_day(conf_day: str | None, inventory_dts: list[str], run_after: datetime | None) -> str:
    if conf_day:
        return check_day(conf_day, "the run's 'day' parameter").isoformat()
    if inventory_dts:
        return max(check_dt(dt)[:10] for dt in inventory_dts)
    if run_after is None:
        raise ValueError("cannot tell the report day: no 'day' parameter, no inventory drop, no run date")
    return run_after.date().isoformat()


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


def plan_summaries(
    config: DatalakeConfig,
    s3_client: Any,
    *,
    day: str,
    triggered: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The plan as an XCom-friendly dict: ``{"day": ..., "sources": {source: {...}}}``.

    A source entry holds ``values`` (the SQL template values) or ``None`` when there is no data for
    that source on that day, with a ``reason`` the report shows.
    """
    triggered = triggered or {}
    d = check_day(day)
    sources: dict[str, Any] = {
        STRAVA_SOURCE: {"kind": "strava", "title": "Training (Strava)", "values": strava_values(config, day)}
    }
    for inventory in config.inventories:
        available = list_partitions(s3_client, inventory, d)
        dt, previous_dt = choose_partitions(available, d, triggered.get(inventory.name))
        entry: dict[str, Any] = {
            "kind": "inventory",
            "inventory": inventory.name,
            "title": f"Storage: s3://{inventory.source_bucket} ({inventory.name})",
            "values": inventory_values(inventory, dt, previous_dt) if dt else None,
        }
        if dt is None:
            entry["reason"] = f"no inventory drop on or before {day} in {inventory.hive_location}"
            log.info("Inventory %s: no drop on or before %s, its summaries are skipped", inventory.name, day)
        else:
            log.info(
                "Inventory %s: summarising drop dt=%s against %s",
                inventory.name,
                dt,
                f"dt={previous_dt}" if previous_dt else "nothing (first drop)",
            )
        sources[inventory_source(inventory)] = entry
    return {"day": d.isoformat(), "sources": sources}


def plan_for_run(
    config: DatalakeConfig,
    *,
    conf_day: str | None,
    triggering_asset_events: Any,
    run_after: datetime | None,
) -> dict[str, Any]:
    """The plan of one DAG run (what the ``find_partitions`` task returns)."""
    from datalake import aws

    triggered = triggering_dts(triggering_asset_events, config)
    day = report_day(conf_day, list(triggered.values()), run_after)
    log.info(
        "Report day %s (%s)",
        day,
        "as asked" if conf_day else "from the inventory drops" if triggered else "the run's date",
    )
    return plan_summaries(config, aws.s3(config), day=day, triggered=triggered)
