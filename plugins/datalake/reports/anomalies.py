"""What changed enough that a person should hear of it: one inventory's day against the day before.

The day before is the newest earlier day of the daily storage summary (``datalake.reports.history``),
so these checks read no inventory drop. They compare rows of that table, per storage class:

- total bytes or objects (current versions) changing by more than ``reports.anomalies.change_share``;
- delete markers growing by more than ``delete_markers_share`` and by at least ``delete_markers_min``;
- unencrypted objects (encryption status NOT-SSE) appearing: more in a class than the day before;
- objects in a class that ``inventories[].expected_classes`` does not list: more than the day before
  (on the first day summarised, any).

The first three need a day before; without one (the first day, or after a gap longer than the trend's
window) only the last check runs. A count a failed query left unknown is not compared. The alert
(``datalake.alerts.AnomalyAlert``) goes out once per inventory and day, see ``datalake.reports.tasks``.
"""

from __future__ import annotations

from typing import Any

from datalake.config import AnomaliesConfig, InventoryConfig
from datalake.reports.render import human_bytes, number


def _total(rows: list[dict[str, Any]], column: str) -> int | None:
    values = [r[column] for r in rows]
    return None if not values or any(v is None for v in values) else sum(values)


def _share(before: int, after: int) -> float | None:
    return (after - before) / before if before else None


def _percent(share: float | None) -> str:
    return "new" if share is None else f"{share:+.1%}"


def _largest_changes(
    today: list[dict[str, Any]], before: list[dict[str, Any]], column: str
) -> list[tuple[str, int]]:
    """The classes whose ``column`` changed, largest change first."""
    was = {r["storage_class"]: r[column] or 0 for r in before}
    now = {r["storage_class"]: r[column] or 0 for r in today}
    changes = [(c, now.get(c, 0) - was.get(c, 0)) for c in sorted(set(was) | set(now))]
    return sorted((c for c in changes if c[1]), key=lambda c: (-abs(c[1]), c[0]))


def _anomaly(kind: str, storage_class: str | None, before: Any, after: Any, text: str) -> dict[str, Any]:
    return {"kind": kind, "storage_class": storage_class, "before": before, "after": after, "text": text}


def find(
    today: list[dict[str, Any]],
    before: list[dict[str, Any]] | None,
    inventory: InventoryConfig,
    limits: AnomaliesConfig,
) -> list[dict[str, Any]]:
    """The anomalies of a day's summary rows against the rows of the day before (None: no such day)."""
    found: list[dict[str, Any]] = []
    if before:
        for column, what, as_bytes in (("bytes", "total bytes", True), ("objects", "total objects", False)):
            was, now = _total(before, column), _total(today, column)
            if was is None or now is None or not was:
                continue
            share = _share(was, now)
            if share is not None and abs(share) > limits.change_share:
                shown = human_bytes if as_bytes else number
                classes = _largest_changes(today, before, column)[:3]
                where = ", ".join(f"{c} {'+' if d > 0 else '-'}{shown(abs(d))}" for c, d in classes)
                main = classes[0][0] if classes else None
                text = (
                    f"{what} {shown(was)} -> {shown(now)} ({_percent(share)}, more than the "
                    f"{limits.change_share:.0%} allowed); by class: {where}"
                )
                found.append(_anomaly(f"{column}_change", main, was, now, text))
        was, now = _total(before, "delete_markers"), _total(today, "delete_markers")
        if was is not None and now is not None:
            share = _share(was, now)
            grew = now - was >= limits.delete_markers_min and (
                share is None or share > limits.delete_markers_share
            )
            if now > was and grew:
                text = (
                    f"delete markers {number(was)} -> {number(now)} ({_percent(share)}; alerting above "
                    f"{limits.delete_markers_share:.0%} and {number(limits.delete_markers_min)} more)"
                )
                found.append(_anomaly("delete_markers", "STANDARD", was, now, text))
        if limits.unencrypted:
            was_by = {r["storage_class"]: r["unencrypted_objects"] for r in before}
            for r in today:
                now, was = r["unencrypted_objects"], was_by.get(r["storage_class"], 0)
                if now is None or was is None or now <= was:
                    continue
                text = (
                    f"unencrypted (NOT-SSE) objects in {r['storage_class']}: {number(was)} -> {number(now)}"
                )
                found.append(_anomaly("unencrypted", r["storage_class"], was, now, text))
    if inventory.expected_classes:
        was_by = {r["storage_class"]: _objects(r) for r in before or []}
        for r in today:
            if r["storage_class"] in inventory.expected_classes:
                continue
            now, was = _objects(r), was_by.get(r["storage_class"], 0)
            if now and now > was:
                expected = ", ".join(inventory.expected_classes)
                text = (
                    f"{number(now)} objects in {r['storage_class']} (the day before: {number(was)}), a class "
                    f"the configuration does not expect (expected: {expected})"
                )
                found.append(_anomaly("unexpected_class", r["storage_class"], was, now, text))
    return found


def _objects(row: dict[str, Any]) -> int:
    """Current and non-current versions of a row (what a class holds)."""
    return (row["objects"] or 0) + (row["noncurrent_objects"] or 0)
