"""The report document of one day: the plan, every summary's rows, and what they say.

The publish task builds it, the renderer turns it into the page, and the store keeps it next to the
page as ``summary.json``::

    {"day": "2026-11-20", "generated_at": "2026-11-20 06:00 UTC", "run_id": ...,
     "prices": {"as_of", "source", "overridden"}, "alerts": {source: {"sent_at", "run_id", ...}},
     "sources": {source: {
        "kind": "inventory" | "strava", "title": ..., "values": {...} | None, "reason": ...,
        "results": {query name: [row, ...] | None},
        "failed": {query name: {"title": ..., "reason": ...}},
        "insights": {...}}}}     (inventories with data: see inventory_insights)

A source without data for the day has no ``values`` and says why (``reason``); a query that failed has no
rows and says why in ``failed``: the page shows both in the source's section. ``alerts`` records the
anomaly alerts sent for the day (``datalake.reports.tasks.alert_anomalies``); a day reported again keeps
it, so that the day alerts once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datalake.config import DatalakeConfig, InventoryConfig
from datalake.reports import anomalies, history, savings
from datalake.reports.costs import class_costs, total
from datalake.reports.queries import AGE_BUCKETS, QUERIES, fetch_results, inventory_source

if TYPE_CHECKING:
    from datalake.reports.store import ReportStore


def encryption_totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects and bytes per encryption status (the query splits them by storage class too)."""
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = found.setdefault(r["encryption_status"], {"encryption_status": r["encryption_status"]})
        entry["objects"] = entry.get("objects", 0) + r["objects"]
        entry["bytes"] = entry.get("bytes", 0) + r["bytes"]
    return sorted(found.values(), key=lambda e: (-e["bytes"], e["encryption_status"]))


def age_histogram(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per age bucket (youngest first): its label, and objects and bytes per storage class."""
    buckets = [
        {"label": label, "short": short, "objects": {}, "bytes": {}} for _, label, short in AGE_BUCKETS
    ]
    for r in rows:
        bucket = buckets[min(int(r["age_bucket"]), len(buckets) - 1)]
        bucket["objects"][r["storage_class"]] = r["objects"]
        bucket["bytes"][r["storage_class"]] = r["bytes"]
    return buckets


def changes(today: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per storage class: objects, bytes and cost now, against the day before."""
    was = {r["storage_class"]: r for r in before}
    now = {r["storage_class"]: r for r in today}
    out = []
    for storage_class in sorted(set(was) | set(now)):
        a, b = was.get(storage_class), now.get(storage_class)
        entry: dict[str, Any] = {"storage_class": storage_class}
        for column in ("objects", "bytes"):
            old, new = (a or {}).get(column) or 0, (b or {}).get(column) or 0
            entry[column], entry[f"{column}_change"] = new, new - old
        cost_now = _cost(b) if b else 0.0
        cost_was = _cost(a) if a else 0.0
        entry["cost"] = cost_now
        entry["cost_change"] = None if cost_now is None or cost_was is None else cost_now - cost_was
        out.append(entry)
    return out


def _cost(row: dict[str, Any]) -> float | None:
    parts = [row["cost_current"], row["cost_noncurrent"], row["cost_delete_markers"]]
    return None if any(p is None for p in parts) else sum(parts)


def inventory_insights(
    config: DatalakeConfig, inventory: InventoryConfig, entry: dict[str, Any], day: str
) -> dict[str, Any]:
    """What one inventory's day says, from its query results: the cost per class, the savings
    candidates, the age histogram, the summary table's rows of the day, the trend (the days before from
    the summary table, then this one), the change since the day before, and the anomalies."""
    results = entry["results"]
    prices = config.region_prices(inventory)
    costs = (
        class_costs(results["inventory_costs"], prices)
        if results.get("inventory_costs") is not None
        else None
    )
    rows = history.day_rows(entry["values"]["dt"], results, costs, config.prices.as_of)
    before = results.get("inventory_trend")
    earlier = history.days(before or [])
    previous_day = max(earlier) if earlier else None
    previous = earlier.get(previous_day, []) if previous_day else None
    series = history.trend(before or [], day, rows)
    today_cost = total(c["total_usd"] for c in costs) if costs is not None else None
    before_cost = series[-2]["cost"] if previous_day and len(series) > 1 else None
    return {
        "region": config.inventory_region(inventory),
        "region_priced": prices is not None,
        "costs": costs,
        "cost_total": today_cost,
        "cost_change": None if today_cost is None or before_cost is None else today_cost - before_cost,
        "unpriced": sorted(c["storage_class"] for c in costs or [] if c["unpriced"]),
        "tiers_unknown": any(c["tiers_unknown"] for c in costs or []),
        "savings": savings.candidates(results, config, inventory),
        "histogram": age_histogram(results["inventory_age_histogram"])
        if results.get("inventory_age_histogram") is not None
        else None,
        "encryption": encryption_totals(results["inventory_encryption"])
        if results.get("inventory_encryption") is not None
        else None,
        "summary_rows": rows,
        "trend": series if before is not None else None,
        "previous": {"day": previous_day, "dt": previous[0]["dt"]} if previous else None,
        "changes": changes(rows, previous) if previous else None,
        "anomalies": anomalies.find(rows, previous, inventory, config.reports.anomalies)
        if before is not None
        else [],
    }


def build_report(
    plan: dict[str, Any],
    outputs: dict[str, dict[str, dict[str, Any] | None]],
    athena_client: Any,
    store: ReportStore,
    config: DatalakeConfig,
    *,
    failures: dict[str, dict[str, str]] | None = None,
    generated_at: datetime | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The report document of one day: the plan, every query's rows, and each inventory's insights.

    ``outputs`` maps source -> summary name -> the query task's return value (None when skipped or
    failed); ``failures`` source -> summary name -> why that query failed. The anomaly alerts already
    sent for the day are read back from its stored document.
    """
    day = plan["day"]
    failures = failures or {}
    inventories = {inventory_source(inv): inv for inv in config.inventories}
    sources: dict[str, Any] = {}
    for source, entry in plan["sources"].items():
        results: dict[str, Any] = {}
        for name, output in (outputs.get(source) or {}).items():
            results[name] = fetch_results(athena_client, output["query_execution_id"]) if output else None
        failed = {
            name: {"title": QUERIES[name].title, "reason": reason}
            for name, reason in (failures.get(source) or {}).items()
        }
        sources[source] = {**entry, "results": results, "failed": failed}
        if entry.get("kind") == "inventory" and entry.get("values") and source in inventories:
            sources[source]["insights"] = inventory_insights(
                config, inventories[source], sources[source], day
            )
    stored = store.read_summary(day) or {}
    stamp = (generated_at or datetime.now(tz=UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "day": day,
        "generated_at": stamp,
        "run_id": run_id,
        "prices": {
            "as_of": config.prices.as_of,
            "source": config.prices.source,
            "overridden": list(config.prices_overridden),
            "config": config.source,
        },
        "alerts": stored.get("alerts") or {},
        "sources": sources,
    }
