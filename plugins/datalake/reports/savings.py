"""What to do about it: the savings candidates of a drop, priced (``inventory_savings_*.sql``).

Each candidate is a kind of object a person can act on with one lifecycle rule or one clean-up, with the
largest prefixes where to act. Its dollars are USD a month, at the drop's list prices, with the minimum
billable size and the per-object overhead applied by the query and the minimum storage durations said
as what each action commits to or still costs once:

- old objects in STANDARD: STANDARD_IA or GLACIER_IR would bill them for less; moving commits each one
  to the target class's minimum duration (an object deleted sooner is billed the days left), which the
  candidate states as the least a move costs;
- non-current versions, non-current long enough: a rule expiring them saves what they cost; those still
  inside their class's minimum duration are billed the days left once (the one-off charge);
- delete markers with no versions behind them: billed for their key names, and they slow listings;
- zero-byte folder objects: free in STANDARD, billed the minimum size or the overhead elsewhere.
"""

from __future__ import annotations

from typing import Any

from datalake.config import DatalakeConfig, InventoryConfig
from datalake.reports.costs import DAYS_PER_MONTH, GIB, price, total, unit_price

TARGETS = ("STANDARD_IA", "GLACIER_IR")  # what old STANDARD objects could move to

CANDIDATES: dict[str, tuple[str, str]] = {  # query -> (title, what to do)
    "inventory_savings_standard": (
        "Old objects in STANDARD",
        "a lifecycle transition to STANDARD_IA or GLACIER_IR for these prefixes",
    ),
    "inventory_savings_noncurrent": (
        "Non-current versions",
        "a lifecycle rule expiring non-current versions (NoncurrentVersionExpiration)",
    ),
    "inventory_savings_delete_markers": (
        "Delete markers with no versions behind them",
        "a lifecycle rule with ExpiredObjectDeleteMarker",
    ),
    "inventory_savings_folders": (
        "Zero-byte folder objects",
        "deleting them: S3 has no folders, prefixes exist without them",
    ),
}


def _option(label: str, saving: float | None, once: float | None, note: str) -> dict[str, Any]:
    return {"label": label, "saving_usd": saving, "one_off_usd": once, "note": note}


def standard_candidate(rows: list[dict[str, Any]], config: DatalakeConfig, inv: InventoryConfig) -> dict:
    """Old STANDARD objects: what each target class would save a month, per prefix and in all."""
    prices = config.region_prices(inv)
    standard = unit_price(prices, "STANDARD", None)
    options, prefixes = [], []
    for row in rows:
        prefixes.append(
            {"prefix": row["prefix"], "objects": row["objects"], "bytes": row["bytes"], "savings": []}
        )
    for target in TARGETS:
        rate = unit_price(prices, target, None)
        rule = config.prices.rules.get(target)
        days = rule.min_days if rule else 0
        column = f"{target.lower()}_bytes"
        if rate is None or standard is None:
            options.append(_option(f"to {target}", None, None, f"no price for {target} in the table"))
            for entry in prefixes:
                entry["savings"].append(None)
            continue
        for entry, row in zip(prefixes, rows, strict=True):
            entry["savings"].append(row["bytes"] / GIB * standard - row[column] / GIB * rate)
        billed = sum(row[column] for row in rows)
        least = billed / GIB * rate * days / DAYS_PER_MONTH
        note = f"each object then stays {days} days or is billed the days left" if days else ""
        options.append(_option(f"to {target}", total(e["savings"][-1] for e in prefixes) or 0.0, least, note))
    return {"options": options, "prefixes": prefixes}


def priced_candidate(
    rows: list[dict[str, Any]], config: DatalakeConfig, inv: InventoryConfig, label: str
) -> dict:
    """A candidate whose rows are billed quantities: it saves what they cost; the one-off charge is
    what their minimum durations still bill."""
    prices = config.region_prices(inv)
    by_prefix: dict[str, dict[str, Any]] = {}
    unpriced: set[str] = set()
    once = 0.0
    for row in rows:
        entry = by_prefix.setdefault(
            row["prefix"], {"prefix": row["prefix"], "objects": 0, "bytes": 0, "savings": [0.0]}
        )
        entry["objects"] += row["objects"]
        entry["bytes"] += row["bytes"]
        priced = price(row, prices)
        if priced.monthly_usd is None:
            unpriced.add(row["storage_class"])
        else:
            entry["savings"][0] += priced.monthly_usd
        once += priced.commitment_usd
    prefixes = list(by_prefix.values())
    note = f"no price for {', '.join(sorted(unpriced))}: not counted" if unpriced else ""
    saving = sum(e["savings"][0] for e in prefixes)
    return {"options": [_option(label, saving, once, note)], "prefixes": prefixes}


def candidates(results: dict[str, Any], config: DatalakeConfig, inv: InventoryConfig) -> list[dict[str, Any]]:
    """Every candidate whose query succeeded, in the order of :data:`CANDIDATES`: title, what to do,
    objects and bytes in all, the options with their savings, the prefixes."""
    found = []
    for name, (title, action) in CANDIDATES.items():
        rows = results.get(name)
        if rows is None:
            continue
        if name == "inventory_savings_standard":
            body = standard_candidate(rows, config, inv)
        else:
            body = priced_candidate(rows, config, inv, "expire" if "noncurrent" in name else "delete")
        found.append(
            {
                "query": name,
                "title": title,
                "action": action,
                "objects": sum(r["objects"] for r in rows),
                "bytes": sum(r["bytes"] for r in rows),
                **body,
            }
        )
    return found
