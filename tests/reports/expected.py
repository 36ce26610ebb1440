"""The answers the cost, savings and age summaries must give, computed in plain Python from the rows of a
generated drop and the price table: the rules as Amazon S3 states them, written again, without SQL.

- an object smaller than its class's minimum billable size is billed at that size; the archive classes
  add their per-object overhead at their own price and at STANDARD's;
- an object younger than its class's minimum storage duration still owes the days left (counted from
  its last modification), at a 30th of the monthly price a day;
- an Intelligent-Tiering object smaller than the monitored size is billed at the Frequent Access tier
  and pays no monitoring fee; the others are billed at their tier (Frequent when the report has no
  tier column) plus the fee per 1,000 objects;
- a delete marker is billed for its key name's UTF-8 bytes in STANDARD.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime
from typing import Any

from datalake.config import DatalakeConfig

GIB = 2**30
DAY_MS = 86_400_000
KB = 1024


def epoch_ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else round(value.timestamp() * 1000)


def snapshot(dt: str) -> int:
    return epoch_ms(datetime.strptime(dt + "+0000", "%Y-%m-%d-%H-%M%z"))


def state(row: dict[str, Any]) -> str:
    if row["is_delete_marker"]:
        return "delete_marker"
    return "current" if row["is_latest"] else "noncurrent"


def billed(row: dict[str, Any], config: DatalakeConfig, now_ms: int, *, tiers: bool = True) -> dict[str, Any]:
    """One row of the drop as Amazon S3 bills it."""
    if row["is_delete_marker"]:
        return {
            "storage_class": "STANDARD",
            "access_tier": None,
            "state": "delete_marker",
            "bytes": 0,
            "billable": len(row["key"].encode()),
            "standard_overhead": 0,
            "monitored": 0,
            "committed_byte_days": 0.0,
        }
    storage_class = row["storage_class"] or "UNKNOWN"
    rule = config.prices.rules.get(storage_class)
    min_bytes = rule.min_billable_kb * KB if rule else 0
    billable = max(row["size"], min_bytes) + (rule.overhead_kb * KB if rule else 0)
    age_days = (now_ms - epoch_ms(row["last_modified_date"])) / DAY_MS
    min_days = rule.min_days if rule else 0
    tier = None
    monitored = 0
    if storage_class == "INTELLIGENT_TIERING":
        monitored_from = rule.monitoring_min_kb * KB if rule else 0
        small = row["size"] < monitored_from
        tier = "FREQUENT" if small else (row.get("intelligent_tiering_access_tier") if tiers else None)
        monitored = 0 if small else 1
    return {
        "storage_class": storage_class,
        "access_tier": tier,
        "state": state(row),
        "bytes": row["size"],
        "billable": billable,
        "standard_overhead": rule.overhead_standard_kb * KB if rule else 0,
        "monitored": monitored,
        "committed_byte_days": billable * max(0.0, min_days - max(0.0, age_days)),
    }


def dollars(items: list[dict[str, Any]], config: DatalakeConfig, region: str = "us-east-1") -> float:
    """USD a month of billed rows."""
    prices = config.prices.regions[region]
    usd = 0.0
    for b in items:
        if b["storage_class"] == "INTELLIGENT_TIERING":
            rate = prices.intelligent_tiering[b["access_tier"] or "FREQUENT"]
            usd += b["monitored"] / 1000 * prices.monitoring_per_1000_objects
        else:
            rate = prices.storage[b["storage_class"]]
        usd += b["billable"] / GIB * rate + b["standard_overhead"] / GIB * prices.storage["STANDARD"]
    return usd


def commitment(items: list[dict[str, Any]], config: DatalakeConfig, region: str = "us-east-1") -> float:
    prices = config.prices.regions[region]
    usd = 0.0
    for b in items:
        if b["storage_class"] == "INTELLIGENT_TIERING":
            rate = prices.intelligent_tiering[b["access_tier"] or "FREQUENT"]
        else:
            rate = prices.storage[b["storage_class"]]
        usd += b["committed_byte_days"] / 30 / GIB * rate
    return usd


def class_costs(rows: list[dict[str, Any]], config: DatalakeConfig, dt: str, *, tiers: bool = True) -> dict:
    """storage class -> state -> {"objects", "bytes", "usd"}, and "commitment" per class."""
    now = snapshot(dt)
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        b = billed(row, config, now, tiers=tiers)
        grouped[b["storage_class"]][b["state"]].append(b)
    out: dict[str, Any] = {}
    for storage_class, states in grouped.items():
        out[storage_class] = {
            s: {"objects": len(items), "bytes": sum(b["bytes"] for b in items), "usd": dollars(items, config)}
            for s, items in states.items()
        }
        out[storage_class]["commitment"] = commitment([b for items in states.values() for b in items], config)
    return out


def top_prefix(key: str) -> str:
    return key.split("/")[0] + "/" if "/" in key else "(top level)"


def ranked(per_prefix: dict[str, dict[str, Any]], by: str, top: int) -> dict[str, dict[str, Any]]:
    """The ``top`` prefixes by ``by`` (then by name), the others summed as '(other prefixes)'."""
    order = sorted(per_prefix, key=lambda p: (-per_prefix[p][by], p))
    out: dict[str, dict[str, Any]] = {}
    for position, prefix in enumerate(order):
        name = prefix if position < top else "(other prefixes)"
        entry = out.setdefault(name, defaultdict(float))
        for column, value in per_prefix[prefix].items():
            entry[column] += value
    return {name: dict(values) for name, values in out.items()}


def old_standard(rows: list[dict[str, Any]], config: DatalakeConfig, dt: str) -> dict[str, dict[str, Any]]:
    """Per prefix: current STANDARD objects old and large enough, their bytes and what they would bill
    in STANDARD_IA and GLACIER_IR."""
    savings = config.reports.savings
    now = snapshot(dt)
    per_prefix: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if not (r["is_latest"] and not r["is_delete_marker"] and r["storage_class"] == "STANDARD"):
            continue
        if r["size"] < savings.min_object_kb * KB:
            continue
        if (now - epoch_ms(r["last_modified_date"])) / DAY_MS < savings.standard_age_days:
            continue
        entry = per_prefix[top_prefix(r["key"])]
        entry["objects"] += 1
        entry["bytes"] += r["size"]
        for target in ("STANDARD_IA", "GLACIER_IR"):
            entry[target] += max(r["size"], config.prices.rules[target].min_billable_kb * KB)
    return ranked(per_prefix, "bytes", savings.top_prefixes)


def noncurrent_long_enough(
    rows: list[dict[str, Any]], config: DatalakeConfig, dt: str
) -> list[dict[str, Any]]:
    """The non-current versions that stopped being current at least ``noncurrent_age_days`` before the
    drop: when the next newer row of their key (a version or a delete marker) was written."""
    cutoff = snapshot(dt) - config.reports.savings.noncurrent_age_days * DAY_MS
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_key[r["key"]].append(r)
    found = []
    for versions in by_key.values():
        versions.sort(key=lambda r: (-epoch_ms(r["last_modified_date"]), not r["is_latest"]))
        for newer, r in itertools.pairwise(versions):
            if (
                not r["is_latest"]
                and not r["is_delete_marker"]
                and epoch_ms(newer["last_modified_date"]) <= cutoff
            ):
                found.append(r)
    return found


def lone_delete_markers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_key[r["key"]].append(r)
    return [
        r for versions in by_key.values() if all(v["is_delete_marker"] for v in versions) for r in versions
    ]


def folder_objects(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r["is_latest"] and not r["is_delete_marker"] and r["size"] == 0 and r["key"].endswith("/")
    ]


def age_histogram(rows: list[dict[str, Any]], dt: str, edges: list[int]) -> dict[tuple[str, int], list[int]]:
    """(storage class, bucket) -> [objects, bytes] of the current versions."""
    now = snapshot(dt)
    found: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if not r["is_latest"] or r["is_delete_marker"]:
            continue
        age = (now - epoch_ms(r["last_modified_date"])) / DAY_MS
        bucket = next((i for i, edge in enumerate(edges) if age < edge), len(edges))
        found[(r["storage_class"], bucket)][0] += 1
        found[(r["storage_class"], bucket)][1] += r["size"]
    return dict(found)
