"""Maintenance: compare the drops in S3 with the table's partitions, repair the gaps, say what was done.

Gaps of three kinds:
- a complete drop in S3 with no partition (a run that failed, a backfill not run): it is validated and,
  when valid, registered; an invalid drop is reported with its reason and left out;
- a partition whose data is gone (symlink file or data files deleted, e.g. by a lifecycle rule):
  the partition is dropped, since Athena would fail or return nothing for it;
- an interval with no drop at all: reported (nothing to repair; S3 Inventory did not deliver).

Unlike the daily path, this lists the whole prefix and every partition: its cost grows with history,
which is why it runs on demand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from datalake.config import InventoryConfig
from datalake.inventory import ddl, intervals, partitions
from datalake.inventory.layout import SYMLINK, DropRef, complete_drops, partition_prefix
from datalake.inventory.validate import DropValidationError, validate_drop


@dataclass
class RepairReport:
    inventory: str
    table: str
    table_exists: bool = True
    drops_in_s3: int = 0
    partitions_before: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    days_without_drop: list[str] = field(default_factory=list)
    applied: bool = True

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.invalid)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verb = "" if self.applied else "would be "
        lines = [
            f"{self.table}: {self.drops_in_s3} drop(s) in S3, {self.partitions_before} partition(s) before",
            f"  partitions {verb}added: {', '.join(self.added) or 'none'}",
            f"  partitions {verb}removed (data gone): {', '.join(self.removed) or 'none'}",
        ]
        lines += [f"  invalid drop {dt}: {why}" for dt, why in sorted(self.invalid.items())]
        lines.append(f"  intervals with no drop: {', '.join(self.days_without_drop) or 'none'}")
        if not self.table_exists:
            lines.append("  the table does not exist yet: run the inventory DAG once to create it")
        return "\n".join(lines)


def _keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update(o["Key"] for o in page.get("Contents", []))
    return found


def gone_partitions(s3: Any, inv: InventoryConfig, catalogued: dict[str, str]) -> list[str]:
    """Partitions whose symlink file, or one of the data files it lists, no longer exists."""
    keys = _keys(s3, inv.destination_bucket, f"{inv.base_prefix}/")  # one listing of the whole prefix
    data = {f"s3://{inv.destination_bucket}/{k}" for k in keys}
    gone = []
    for dt in sorted(catalogued):
        key = partition_prefix(inv.base_prefix, dt) + SYMLINK
        if key not in keys:
            gone.append(dt)
            continue
        body = s3.get_object(Bucket=inv.destination_bucket, Key=key)["Body"].read().decode("utf-8", "replace")
        if any(line.strip() and line.strip() not in data for line in body.splitlines()):
            gone.append(dt)
    return gone


def repair_inventory(
    s3: Any, glue: Any, inv: InventoryConfig, *, until: date, apply: bool = True
) -> RepairReport:
    """Find (and with ``apply``, repair) the gaps of one configuration up to the interval ending ``until``."""
    report = RepairReport(inventory=inv.name, table=f"{inv.database}.{inv.table}", applied=apply)
    drops = complete_drops(s3, inv.destination_bucket, inv.base_prefix)
    report.drops_in_s3 = len(drops)
    drop_days = {d.day for d in drops}
    start = date.fromisoformat(inv.start_date)
    for end in intervals.interval_ends(inv, start, until):
        if not drop_days.intersection(intervals.drop_days(inv, end)):
            report.days_without_drop.append(end.isoformat())

    table = ddl.get_table(glue, inv)
    if table is None:
        report.table_exists = False
        return report
    if inv.partition_projection:
        return report  # Athena projects the partitions: nothing is catalogued, nothing to repair
    columns = ddl.table_columns(table)
    catalogued = partitions.partition_values(glue, inv)
    report.partitions_before = len(catalogued)

    gone = gone_partitions(s3, inv, catalogued)
    report.removed = gone
    missing: list[DropRef] = [d for d in drops if d.dt not in catalogued]
    for drop in missing:
        try:
            valid = validate_drop(s3, inv, drop, columns)
        except DropValidationError as exc:
            report.invalid[drop.dt] = str(exc)
            continue
        report.added.append(drop.dt)
        if apply:
            if valid.new_columns:
                ddl.add_columns(glue, inv, list(valid.new_columns))
                columns = [*(columns or []), *valid.new_columns]
            partitions.add_partition(glue, inv, drop.dt, list(valid.manifest.columns))
    if apply and gone:
        partitions.delete_partitions(glue, inv, gone)
    return report
