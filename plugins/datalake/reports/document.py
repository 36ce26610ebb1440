"""The report document of one day: the plan, every summary's rows, and the storage history.

The publish task builds it, the renderer turns it into the page, and the store keeps it next to the
page as ``summary.json``, where later days read their growth history back (no query ever scans past
partitions for it)::

    {"day": "2026-11-20", "generated_at": "2026-11-20 06:00 UTC", "sources": {source: {
        "kind": "inventory" | "strava", "title": ..., "values": {...} | None, "reason": ...,
        "results": {query name: [row, ...] | None},
        "failed": {query name: {"title": ..., "reason": ...}}}},
     "history": {source: [{"day", "objects", "bytes"}, ...]}}

A source without data for the day has no ``values`` and says why (``reason``); a query that failed has no
rows and says why in ``failed``: the page shows both in the source's section.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from datalake.reports.queries import QUERIES, check_day, fetch_results

if TYPE_CHECKING:
    from datalake.reports.store import ReportStore

HISTORY_DAYS = 30  # the days before the report day that its growth chart shows


def storage_totals(source: dict[str, Any]) -> dict[str, int] | None:
    """Objects and bytes of an inventory source's day (the points of the growth chart)."""
    classes = (source.get("results") or {}).get("inventory_storage_classes")
    if not source.get("values") or classes is None:
        return None
    return {"objects": sum(r["objects"] for r in classes), "bytes": sum(r["bytes"] for r in classes)}


def history_days(day: str, days: int = HISTORY_DAYS) -> list[str]:
    """The ``days`` days before ``day``, oldest first."""
    end = check_day(day)
    return [(end - timedelta(days=offset)).isoformat() for offset in range(days, 0, -1)]


def storage_history(documents: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per source, ``{"day", "objects", "bytes"}`` of each day's document, oldest day first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for day in sorted(documents):
        for source, entry in (documents[day].get("sources") or {}).items():
            totals = storage_totals(entry)
            if totals is not None:
                found.setdefault(source, []).append({"day": day, **totals})
    return found


def build_report(
    plan: dict[str, Any],
    outputs: dict[str, dict[str, dict[str, Any] | None]],
    athena_client: Any,
    store: ReportStore,
    *,
    failures: dict[str, dict[str, str]] | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report document of one day: the plan, every query's rows, and the growth history read
    from the stored documents of the days before.

    ``outputs`` maps source -> summary name -> the query task's return value (None when skipped or
    failed); ``failures`` source -> summary name -> why that query failed.
    """
    day = plan["day"]
    failures = failures or {}
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
    past = store.read_summaries(history_days(day))
    history = storage_history({**past, day: {"sources": sources}})
    stamp = (generated_at or datetime.now(tz=UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return {"day": day, "generated_at": stamp, "sources": sources, "history": history}
