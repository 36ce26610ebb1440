"""Register drops as partitions through Glue's partition API: one drop, one call, whatever the history.

``BatchCreatePartition`` with a single partition is idempotent here: a partition that already exists
comes back inside ``Errors`` (not as an exception); it is left alone when it already points at the
drop, and re-pointed when it does not. Each partition carries the column list of its own drop, so an
older drop keeps describing its own files after the table gained columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datalake.config import InventoryConfig
from datalake.inventory.ddl import storage_descriptor
from datalake.inventory.layout import partition_location

CREATED = "created"
UNCHANGED = "unchanged"
UPDATED = "updated"


class PartitionError(RuntimeError):
    pass


def add_partition(glue: Any, inv: InventoryConfig, dt: str, columns: list[tuple[str, str]]) -> str:
    """Add partition ``dt`` of ``inv`` (CREATED, UNCHANGED or UPDATED). Never lists the table."""
    location = partition_location(inv.destination_bucket, inv.base_prefix, dt)
    partition = {"Values": [dt], "StorageDescriptor": storage_descriptor(inv, columns, location)}
    answer = glue.batch_create_partition(
        DatabaseName=inv.database, TableName=inv.table, PartitionInputList=[partition]
    )
    errors = answer.get("Errors") or []
    if not errors:
        return CREATED
    code = errors[0].get("ErrorDetail", {}).get("ErrorCode", "")
    if code != "AlreadyExistsException":
        detail = errors[0].get("ErrorDetail", {}).get("ErrorMessage", code)
        raise PartitionError(f"cannot add partition dt={dt} to {inv.database}.{inv.table}: {detail}")
    existing = glue.get_partition(DatabaseName=inv.database, TableName=inv.table, PartitionValues=[dt])
    sd = existing["Partition"].get("StorageDescriptor", {})
    current = [(c["Name"], c["Type"]) for c in sd.get("Columns", [])]
    if sd.get("Location") == location and current == list(columns):
        return UNCHANGED
    glue.update_partition(
        DatabaseName=inv.database,
        TableName=inv.table,
        PartitionValueList=[dt],
        PartitionInput=partition,
    )
    return UPDATED


def iter_partitions(glue: Any, inv: InventoryConfig) -> Iterator[dict[str, Any]]:
    """Every partition of the table (maintenance only: this cost does grow with history)."""
    paginator = glue.get_paginator("get_partitions")
    for page in paginator.paginate(DatabaseName=inv.database, TableName=inv.table):
        yield from page.get("Partitions", [])


def partition_values(glue: Any, inv: InventoryConfig) -> dict[str, str]:
    """``{dt: location}`` of every partition."""
    return {
        p["Values"][0]: p.get("StorageDescriptor", {}).get("Location", "") for p in iter_partitions(glue, inv)
    }


def delete_partitions(glue: Any, inv: InventoryConfig, dts: list[str]) -> None:
    for start in range(0, len(dts), 25):  # BatchDeletePartition takes at most 25
        chunk = dts[start : start + 25]
        answer = glue.batch_delete_partition(
            DatabaseName=inv.database,
            TableName=inv.table,
            PartitionsToDelete=[{"Values": [dt]} for dt in chunk],
        )
        errors = [
            e
            for e in answer.get("Errors") or []
            if e.get("ErrorDetail", {}).get("ErrorCode") != "EntityNotFoundException"
        ]
        if errors:
            raise PartitionError(f"cannot delete partitions of {inv.database}.{inv.table}: {errors[0]}")
