"""The callables behind the ``s3_inventory_<name>`` and ``s3_inventory_maintenance`` DAGs' tasks.

The DAG file only wires them. It imports this module at parse time, so what only a running task needs
(the manifest, validation and partition modules, the AWS hooks) is imported inside the functions.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from airflow.sdk import PokeReturnValue

from datalake import aws
from datalake.config import InventoryConfig, get_config
from datalake.dag_defaults import check_first_day
from datalake.inventory import ddl, intervals

log = logging.getLogger(__name__)


def poke_for_drop(inv: InventoryConfig, data_interval_start: datetime, data_interval_end: datetime) -> Any:
    """One poke of ``wait_for_drop``: this interval's complete drop, else wait; fail past the deadline."""
    from airflow.sdk import timezone
    from airflow.sdk.exceptions import AirflowSensorTimeout

    check_first_day(inv.start_date, f"inventories[name={inv.name}].start_date", data_interval_start)
    drop = intervals.find_drop(aws.s3(), inv, data_interval_end)
    if drop is not None:
        return PokeReturnValue(is_done=True, xcom_value=drop.as_dict())
    deadline = intervals.deadline(inv, data_interval_end)
    if timezone.utcnow() >= deadline:
        days = ", ".join(d.isoformat() for d in intervals.drop_days(inv, data_interval_end))
        raise AirflowSensorTimeout(
            f"no complete drop (manifest.checksum) dated {days} under "
            f"s3://{inv.destination_bucket}/{inv.base_prefix}/ by the deadline {deadline.isoformat()} "
            f"({inv.wait_timeout_hours} h after the interval's end)"
        )
    return PokeReturnValue(is_done=False)


def validate_drop(inv: InventoryConfig, drop: dict[str, Any]) -> dict[str, Any]:
    """Check the drop before anything is registered; a bad drop fails at once, naming the object."""
    from airflow.sdk.exceptions import AirflowFailException

    from datalake.inventory.layout import DropRef
    from datalake.inventory.validate import DropValidationError
    from datalake.inventory.validate import validate_drop as check

    columns = ddl.table_columns(ddl.get_table(aws.glue(), inv))
    try:
        return check(aws.s3(), inv, DropRef.from_dict(drop), columns).as_dict()
    except DropValidationError as exc:
        raise AirflowFailException(f"invalid inventory drop, nothing registered: {exc}") from None


def evolve_table(inv: InventoryConfig, valid: dict[str, Any]) -> list[str]:
    """Append the columns this drop has and the table lacks (the configuration gained fields)."""
    from airflow.sdk.exceptions import AirflowFailException

    from datalake.inventory.layout import DropRef
    from datalake.inventory.validate import SchemaDrift, check_schema

    glue = aws.glue()
    columns = tuple(tuple(c) for c in valid["columns"])
    try:
        new = check_schema(
            DropRef.from_dict(valid),
            columns,
            ddl.table_columns(ddl.get_table(glue, inv)),
            valid["file_format"],
        )
    except SchemaDrift as exc:
        raise AirflowFailException(str(exc)) from None
    return ddl.add_columns(glue, inv, list(new))


def register_partition(inv: InventoryConfig, valid: dict[str, Any]) -> dict[str, str]:
    """Add this drop's partition through Glue (idempotent, one call whatever the history)."""
    from datalake.inventory import partitions

    columns = [(c[0], c[1]) for c in valid["columns"]]
    status = partitions.add_partition(aws.glue(), inv, valid["dt"], columns)
    return {"dt": valid["dt"], "status": status}


def asset_extra(valid: dict[str, Any]) -> dict[str, str]:
    """What the inventory Asset's event carries: the partition it registered (or projects)."""
    return {"dt": valid["dt"], "location": valid["location"]}


def repair(name: str, *, apply: bool, until: date | None = None) -> dict[str, Any]:
    """Report (and repair, unless ``apply`` is false) the gaps of one configuration."""
    from airflow.sdk import timezone

    from datalake.inventory.repair import repair_inventory

    inv = get_config().inventory(name)
    report = repair_inventory(aws.s3(), aws.glue(), inv, until=until or timezone.utcnow().date(), apply=apply)
    log.info("%s", report.summary())
    return report.as_dict()
