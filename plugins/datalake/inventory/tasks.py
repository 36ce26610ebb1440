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
from datalake.events import started_by_queue
from datalake.inventory import ddl, intervals

log = logging.getLogger(__name__)


def poke_for_drops(
    inv: InventoryConfig,
    *,
    dag_run: Any,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    triggering_asset_events: Any,
) -> Any:
    """One poke of ``wait_for_drop``: the drops this run registers, oldest first.

    A run that messages of the queue started takes the drops they announce, at once (skipped, saying
    why, when they announce none of this configuration's); any other run (scheduled, manual, backfill)
    waits for its interval's drop.
    """
    if started_by_queue(dag_run):
        return PokeReturnValue(is_done=True, xcom_value=announced_drops(inv, triggering_asset_events))
    drop = interval_drop(inv, data_interval_start, data_interval_end)
    if drop is None:
        return PokeReturnValue(is_done=False)
    return PokeReturnValue(is_done=True, xcom_value=[drop])


def interval_drop(
    inv: InventoryConfig, data_interval_start: datetime | None, data_interval_end: datetime | None
) -> dict[str, Any] | None:
    """This interval's complete drop, else None (wait); fail past the deadline."""
    from airflow.sdk import timezone
    from airflow.sdk.exceptions import AirflowSensorTimeout

    check_first_day(inv.start_date, f"inventories[name={inv.name}].start_date", data_interval_start)
    if data_interval_end is None:
        raise ValueError(f"{inv.dag_id}: a run with no data interval and no queue message has no drop")
    drop = intervals.find_drop(aws.s3(), inv, data_interval_end)
    if drop is not None:
        return drop.as_dict()
    deadline = intervals.deadline(inv, data_interval_end)
    if timezone.utcnow() >= deadline:
        days = ", ".join(d.isoformat() for d in intervals.drop_days(inv, data_interval_end))
        raise AirflowSensorTimeout(
            f"no complete drop (manifest.checksum) dated {days} under "
            f"s3://{inv.destination_bucket}/{inv.base_prefix}/ by the deadline {deadline.isoformat()} "
            f"({inv.wait_timeout_hours} h after the interval's end)"
        )
    return None


def announced_drops(inv: InventoryConfig, triggering_asset_events: Any) -> list[dict[str, Any]]:
    """The drops of ``inv`` that the run's queue messages announce; skip the run when there is none."""
    from airflow.sdk.exceptions import AirflowSkipException

    from datalake.events import queue_asset, received_messages
    from datalake.inventory.notifications import match_drops

    if inv.events_queue_url is None:
        raise AirflowSkipException(f"{inv.dag_id} watches no queue (events_queue_url): nothing to register")
    messages = received_messages(triggering_asset_events, queue_asset(inv.events_queue_url))
    matched = match_drops(inv, get_config().inventories, messages)
    if not matched.drops:
        raise AirflowSkipException(
            f"nothing to register: {len(messages)} message(s), none announcing a drop of "
            f"inventories[name={inv.name}]" + "".join(f"; {line}" for line in matched.ignored)
        )
    log.info("Drops announced: %s", ", ".join(d.folder for d in matched.drops))
    return [d.as_dict() for d in matched.drops]


def validate_drops(inv: InventoryConfig, drops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check each drop before anything is registered; a bad drop fails at once, naming the object."""
    from airflow.sdk.exceptions import AirflowFailException

    from datalake.inventory.layout import DropRef
    from datalake.inventory.validate import DropValidationError
    from datalake.inventory.validate import validate_drop as check

    s3 = aws.s3()
    columns = ddl.table_columns(ddl.get_table(aws.glue(), inv))
    try:
        return [check(s3, inv, DropRef.from_dict(drop), columns).as_dict() for drop in drops]
    except DropValidationError as exc:
        raise AirflowFailException(f"invalid inventory drop, nothing registered: {exc}") from None


def evolve_table(inv: InventoryConfig, valid: list[dict[str, Any]]) -> list[str]:
    """Append the columns the drops have and the table lacks (the configuration gained fields), in the
    order the drops were written."""
    from airflow.sdk.exceptions import AirflowFailException

    from datalake.inventory.layout import DropRef
    from datalake.inventory.validate import SchemaDrift, check_schema

    glue = aws.glue()
    added: list[str] = []
    for drop in valid:
        columns = tuple(tuple(c) for c in drop["columns"])
        try:
            new = check_schema(
                DropRef.from_dict(drop),
                columns,
                ddl.table_columns(ddl.get_table(glue, inv)),
                drop["file_format"],
            )
        except SchemaDrift as exc:
            raise AirflowFailException(str(exc)) from None
        added += ddl.add_columns(glue, inv, list(new))
    return added


def register_partitions(inv: InventoryConfig, valid: list[dict[str, Any]], outlet_event: Any) -> list[dict]:
    """Add each drop's partition through Glue (idempotent, one call per drop whatever the history).

    The run that creates (or re-points) a partition owns that drop and publishes the inventory Asset,
    its event carrying the newest such drop; a run that finds every partition already there, pointing
    at the same drop, only confirms them: it is skipped, so it publishes nothing and the summaries do
    not run twice for one drop.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from datalake.inventory import partitions

    glue = aws.glue()
    done = []
    for drop in valid:
        columns = [(c[0], c[1]) for c in drop["columns"]]
        done.append({"dt": drop["dt"], "status": partitions.add_partition(glue, inv, drop["dt"], columns)})
    owned = [drop for drop, d in zip(valid, done, strict=True) if d["status"] != partitions.UNCHANGED]
    if not owned:
        raise AirflowSkipException(
            f"already registered, pointing at the same drop: {', '.join(d['dt'] for d in done)}; "
            "confirmed (the run that registered it published the Asset)"
        )
    outlet_event.extra = asset_extra(owned[-1])
    log.info("Registered %s", ", ".join(f"dt={d['dt']} ({d['status']})" for d in done))
    return done


def announce_drops(valid: list[dict[str, Any]], outlet_event: Any) -> list[dict[str, str]]:
    """Partition projection: nothing to register; publish the Asset with the newest drop's ``dt``.

    Returns what ``register_partitions`` returns, one entry per drop, so readers of either task's
    result see one shape.
    """
    outlet_event.extra = asset_extra(valid[-1])
    return [{"dt": drop["dt"], "status": "projected"} for drop in valid]


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
