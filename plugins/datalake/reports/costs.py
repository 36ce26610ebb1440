"""What storage costs: the summaries' billed quantities priced with the price table, in USD a month.

The per-object rules (minimum billable size, the archive classes' per-object overhead, minimum storage
duration) need each object's size, class and age, so the SQL applies them where the objects are
(``include/sql/summaries/inventory_macros.jinja``) and returns sums per storage class, Intelligent-Tiering
access tier and version state. This module turns those sums into dollars. The arithmetic is split there
on purpose: prices are per class and tier, so pricing sums in Python keeps one price lookup (the region,
the tier, the monitoring fee, a class the table has no price for) for the costs and every savings
candidate, and a price override changes no query (nor its Athena request token, nor its bytes scanned).

A row of billed quantities (``inventory_costs.sql`` and the savings candidates) holds: ``storage_class``,
``access_tier``, ``objects``, ``bytes``, ``billable_bytes`` (at the class's price),
``standard_overhead_bytes`` (at STANDARD's), ``monitored_objects`` (the Intelligent-Tiering fee) and
``committed_byte_days`` (what the minimum durations still bill if the objects went now).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from datalake.config import RegionPrices

GIB = 2**30  # Amazon S3 bills a GB of 2^30 bytes
DAYS_PER_MONTH = 30  # the minimum durations bill days left at a 30th of the monthly price
INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
STATES = ("current", "noncurrent", "delete_marker")


@dataclass(frozen=True)
class Priced:
    """One row of billed quantities, priced."""

    monthly_usd: float | None  # None: the table has no price for its class (or tier)
    commitment_usd: float  # the minimum-duration charge still due if the objects went now


def unit_price(prices: RegionPrices | None, storage_class: str, access_tier: str | None) -> float | None:
    """USD per GB-month of ``storage_class`` (an Intelligent-Tiering object: of its tier, the Frequent
    Access tier when the report does not say, an upper bound); None when the table has none."""
    if prices is None:
        return None
    if storage_class == INTELLIGENT_TIERING:
        return prices.intelligent_tiering.get(access_tier or "FREQUENT")
    return prices.storage.get(storage_class)


def price(row: dict[str, Any], prices: RegionPrices | None) -> Priced:
    """The monthly cost and minimum-duration commitment of one row of billed quantities."""
    rate = unit_price(prices, row["storage_class"], row.get("access_tier"))
    standard = unit_price(prices, "STANDARD", None)
    overhead = row.get("standard_overhead_bytes") or 0
    if prices is None or rate is None or (overhead and standard is None):
        return Priced(None, 0.0)
    monthly = row["billable_bytes"] / GIB * rate + overhead / GIB * (standard or 0.0)
    if row["storage_class"] == INTELLIGENT_TIERING:
        monthly += (row.get("monitored_objects") or 0) / 1000 * prices.monitoring_per_1000_objects
    commitment = (row.get("committed_byte_days") or 0) / DAYS_PER_MONTH / GIB * rate
    return Priced(monthly, commitment)


def _add(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


def class_costs(rows: Iterable[dict[str, Any]], prices: RegionPrices | None) -> list[dict[str, Any]]:
    """Per storage class: current versions, non-current versions and delete markers apart (objects,
    bytes, USD a month), their total, and the minimum-duration commitment; sorted by cost, largest first.

    A class with a row the table cannot price has ``None`` dollars (and ``unpriced`` true): its objects
    still count, its cost is not guessed.
    """
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = found.setdefault(
            row["storage_class"],
            {
                "storage_class": row["storage_class"],
                **{f"{state}_{what}": 0 for state in STATES for what in ("objects", "bytes")},
                **{f"{state}_usd": 0.0 for state in STATES},
                "commitment_usd": 0.0,
                "unpriced": False,
                "tiers_unknown": False,
            },
        )
        state = row["state"]
        entry[f"{state}_objects"] += row["objects"]
        entry[f"{state}_bytes"] += row["bytes"]
        priced = price(row, prices)
        entry[f"{state}_usd"] = _add(entry[f"{state}_usd"], priced.monthly_usd)
        entry["commitment_usd"] += priced.commitment_usd
        entry["unpriced"] |= priced.monthly_usd is None
        entry["tiers_unknown"] |= row["storage_class"] == INTELLIGENT_TIERING and not row.get("access_tier")
    for entry in found.values():
        total: float | None = 0.0
        for state in STATES:
            total = _add(total, entry[f"{state}_usd"])
        entry["total_usd"] = total
    return sorted(found.values(), key=lambda e: (-(e["total_usd"] or 0.0), e["storage_class"]))


def total(values: Iterable[float | None]) -> float | None:
    """The sum of what is priced (None when nothing is)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None
