"""The inventory DAG, run for real (``dag.test()``) against the embedded stack's S3, Glue and Athena."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from datalake.inventory import ddl, partitions
from datalake.inventory.repair import repair_inventory
from devstack.inventory_drops import serialise, write_config_drop
from tests.athena import run_sql
from tests.dags import run_dag

from .conftest import replace_data_file

DAY = date(2026, 11, 2)
FAST = timedelta(seconds=1)


def _write(s3: Any, inv: Any, day: date = DAY, **kwargs: Any) -> Any:
    return write_config_drop(s3, inv, day, fmt=kwargs.pop("fmt", inv.format), n=kwargs.pop("n", 60), **kwargs)


def _run(dag_module: Any, inv: Any, interval_end: date) -> tuple[str, dict[str, str]]:
    """Run the interval ending at 00:00 UTC of ``interval_end``; return the run state and task states."""
    dag = dag_module.inventory_dag(inv, poke_interval=FAST)
    # a manual run of a CronDataIntervalTimetable covers the interval that ends at its logical date
    logical = datetime.combine(interval_end, datetime.min.time(), tzinfo=UTC)
    run = run_dag(dag, logical_date=logical)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return str(run.state), states


def _partitions(glue: Any, inv: Any) -> list[tuple[str, str]]:
    try:
        parts = glue.get_partitions(DatabaseName=inv.database, TableName=inv.table)["Partitions"]
    except glue.exceptions.EntityNotFoundException:
        return []
    return sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in parts)


def _objects(s3: Any, inv: Any) -> list[tuple[str, str]]:
    listed = s3.list_objects_v2(Bucket=inv.destination_bucket, Prefix=inv.base_prefix + "/")
    return sorted((o["Key"], o["ETag"]) for o in listed.get("Contents", []))


def test_a_drop_becomes_a_partition_whose_rows_athena_returns_and_a_rerun_changes_nothing(
    dag_module: Any, s3: Any, glue: Any, athena: Any, inv: Any
) -> None:
    drop = _write(s3, inv, n=60)
    state, tasks = _run(dag_module, inv, DAY)
    assert state == "success", tasks
    assert _partitions(glue, inv) == [(drop.dt, f"{inv.hive_location}dt={drop.dt}/")]
    rows = run_sql(
        athena,
        f"SELECT count(*), sum(size) FROM {inv.table} WHERE dt = '{drop.dt}'",  # noqa: S608 - test-made names
        database=inv.database,
    )
    sizes = [s for s in drop.table.column("size").to_pylist() if s is not None]  # delete markers: NULL
    assert rows == [[str(drop.table.num_rows), str(sum(sizes))]]

    columns = glue.get_table(DatabaseName=inv.database, Name=inv.table)["Table"]["StorageDescriptor"][
        "Columns"
    ]
    partitions, objects = _partitions(glue, inv), _objects(s3, inv)
    assert _run(dag_module, inv, DAY)[0] == "success"
    assert _partitions(glue, inv) == partitions
    assert _objects(s3, inv) == objects
    again = glue.get_table(DatabaseName=inv.database, Name=inv.table)["Table"]["StorageDescriptor"]["Columns"]
    assert again == columns


def _asset_events(inv: Any) -> list[dict[str, Any]]:
    """The extras of the inventory Asset's events, as the metadata DB holds them."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from datalake.assets import inventory_asset

    name = inventory_asset(inv).name
    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [dict(e.extra) for e in session.scalars(query.where(AssetModel.name == name))]


def test_the_run_that_registers_a_drop_publishes_it_once_and_a_later_run_only_confirms_it(
    dag_module: Any, s3: Any, glue: Any, inv: Any
) -> None:
    drop = _write(s3, inv, n=20)
    state, tasks = _run(dag_module, inv, DAY)
    assert (state, tasks["register_partition"]) == ("success", "success"), tasks
    published = [{"dt": drop.dt, "location": f"{inv.hive_location}dt={drop.dt}/"}]
    assert _asset_events(inv) == published

    # the other path (here: the same day again) finds the partition pointing at the same drop
    state, tasks = _run(dag_module, inv, DAY)
    assert (state, tasks["register_partition"]) == ("success", "skipped"), tasks
    assert _asset_events(inv) == published
    assert [dt for dt, _ in _partitions(glue, inv)] == [drop.dt]


def test_a_drop_arriving_after_the_sensor_started_is_picked_up(
    dag_module: Any, s3: Any, glue: Any, inv: Any
) -> None:
    timer = threading.Timer(3.0, _write, args=(s3, inv))
    timer.start()
    try:
        state, tasks = _run(dag_module, inv, DAY)
    finally:
        timer.cancel()
        timer.join()
    assert state == "success", tasks
    assert [dt for dt, _ in _partitions(glue, inv)] == ["2026-11-02-01-00"]


def test_no_drop_by_the_deadline_fails_the_run(dag_module: Any, glue: Any, inv: Any) -> None:
    end = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    # the deadline falls a few seconds after the sensor starts: it pokes, waits, then gives up
    hours = (datetime.now(UTC) - end).total_seconds() / 3600 + 3 / 3600
    late = replace(inv, wait_timeout_hours=hours)
    state, tasks = _run(dag_module, late, DAY)
    assert state == "failed"
    assert tasks["wait_for_drop"] == "failed"
    assert tasks["register_partition"] != "success"
    assert _partitions(glue, late) == []


@pytest.mark.parametrize("corrupt", ["checksum", "missing_symlink", "not_parquet"])
def test_a_corrupt_drop_fails_validation_and_registers_nothing(
    dag_module: Any, s3: Any, glue: Any, inv: Any, corrupt: str
) -> None:
    """(Every kind of corruption and its message: test_validate.py, test_data_files.py.)"""
    drop = _write(s3, inv, n=20)
    if corrupt == "checksum":
        s3.put_object(Bucket=drop.destination_bucket, Key=drop.checksum_key, Body=b"f" * 32)
    elif corrupt == "missing_symlink":
        s3.delete_object(Bucket=drop.destination_bucket, Key=drop.symlink_key)
    else:  # a data file that is gzip'd CSV, with a manifest (and checksum) that agree with it
        replace_data_file(s3, drop, 0, serialise(drop.table, "CSV"))
    state, tasks = _run(dag_module, inv, DAY)
    assert state == "failed"
    assert tasks["validate_drop"] == "failed"
    assert tasks["register_partition"] != "success"
    assert ddl.get_table(glue, inv) is None or _partitions(glue, inv) == []


def test_csv_and_parquet_drops_of_the_same_objects_give_the_same_answers(
    dag_module: Any, s3: Any, athena: Any, inv: Any
) -> None:
    parquet = inv
    csv = replace(
        inv, name=inv.name + "_csv", config_id=inv.config_id + "-csv", table=inv.table + "_csv", format="CSV"
    )
    _write(s3, parquet, fmt="Parquet", seed=5)
    _write(s3, csv, fmt="CSV", seed=5)
    assert _run(dag_module, parquet, DAY)[0] == "success"
    assert _run(dag_module, csv, DAY)[0] == "success"
    # CSV reports URL-encode keys and write empty text where Parquet has NULL: compare the rest
    query = (
        "SELECT coalesce(nullif(storage_class, ''), '-') AS sc, count(*), sum(size), count(DISTINCT key), "
        "count(DISTINCT nullif(e_tag, '')), sum(CASE WHEN is_latest THEN 1 ELSE 0 END) "
        "FROM {table} WHERE dt = '2026-11-02-01-00' GROUP BY 1 ORDER BY 1"
    )
    answer = run_sql(athena, query.format(table=parquet.table), database=inv.database)
    assert answer
    assert run_sql(athena, query.format(table=csv.table), database=inv.database) == answer


def test_a_backfill_registers_every_drop_and_reports_the_days_without_one(
    dag_module: Any, s3: Any, glue: Any, inv: Any
) -> None:
    days = [date(2026, 11, d) for d in (2, 3, 4)]
    dated = replace(inv, wait_timeout_hours=1)  # past days: a missing drop fails at once
    for day in days:
        if day != date(2026, 11, 3):
            _write(s3, dated, day=day, n=20)
    states = {day: _run(dag_module, dated, day)[0] for day in days}
    assert states == {days[0]: "success", days[1]: "failed", days[2]: "success"}
    assert [dt[:10] for dt, _ in _partitions(glue, dated)] == ["2026-11-02", "2026-11-04"]
    report = repair_inventory(s3, glue, dated, until=date(2026, 11, 4))
    assert report.days_without_drop == ["2026-11-01", "2026-11-03"]
    assert report.clean


def test_repair_registers_missing_drops_and_drops_partitions_whose_data_is_gone(
    dag_module: Any, s3: Any, glue: Any, inv: Any
) -> None:
    kept = _write(s3, inv, day=date(2026, 11, 2), n=20)
    assert _run(dag_module, inv, date(2026, 11, 2))[0] == "success"
    gone = _write(s3, inv, day=date(2026, 11, 3), n=20)
    partitions.add_partition(glue, inv, gone.dt, [("bucket", "string"), ("key", "string")])
    unregistered = _write(s3, inv, day=date(2026, 11, 4), n=20)
    for key in gone.data_keys:  # e.g. a lifecycle rule expired the data
        s3.delete_object(Bucket=gone.destination_bucket, Key=key)

    dry = repair_inventory(s3, glue, inv, until=date(2026, 11, 4), apply=False)
    assert (dry.added, dry.removed) == ([unregistered.dt], [gone.dt])
    assert [dt for dt, _ in _partitions(glue, inv)] == [kept.dt, gone.dt]

    report = repair_inventory(s3, glue, inv, until=date(2026, 11, 4))
    assert (report.added, report.removed, report.invalid) == ([unregistered.dt], [gone.dt], {})
    assert [dt for dt, _ in _partitions(glue, inv)] == [kept.dt, unregistered.dt]
    after = repair_inventory(s3, glue, inv, until=date(2026, 11, 4))
    assert (after.added, after.removed) == ([], [])
    assert list(after.invalid) == [gone.dt]  # its drop is still in S3, but incomplete: reported, not added
    assert "listed in manifest.json is missing" in after.invalid[gone.dt]


def test_a_configuration_that_gains_fields_evolves_the_table(
    dag_module: Any, s3: Any, glue: Any, athena: Any, inv: Any
) -> None:
    from devstack.inventory_drops import DEFAULT_FIELDS

    fewer = [f for f in DEFAULT_FIELDS if f not in ("storage_class", "e_tag")]
    old = _write(s3, inv, day=date(2026, 11, 2), fields=fewer, n=10)
    assert _run(dag_module, inv, date(2026, 11, 2))[0] == "success"
    new = _write(s3, inv, day=date(2026, 11, 3), n=10)
    assert _run(dag_module, inv, date(2026, 11, 3))[0] == "success"
    columns = [
        c["Name"]
        for c in glue.get_table(DatabaseName=inv.database, Name=inv.table)["Table"]["StorageDescriptor"][
            "Columns"
        ]
    ]
    assert set(columns) == set(DEFAULT_FIELDS)
    rows = run_sql(
        athena,
        f"SELECT dt, count(*), count(storage_class) FROM {inv.table} GROUP BY dt ORDER BY dt",  # noqa: S608 - test-made names
        database=inv.database,
    )
    classes = [c for c in new.table.column("storage_class").to_pylist() if c is not None]
    assert rows == [
        [old.dt, str(old.table.num_rows), "0"],
        [new.dt, str(new.table.num_rows), str(len(classes))],
    ]


def test_partition_projection_creates_the_projected_table_and_registers_nothing(
    dag_module: Any, s3: Any, glue: Any, inv: Any
) -> None:
    projected = replace(inv, partition_projection=True)
    _write(s3, projected)
    state, tasks = _run(dag_module, projected, DAY)
    assert state == "success", tasks
    table = ddl.get_table(glue, projected)
    assert table is not None
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["Parameters"]["projection.dt.range"] == "2026-11-01-00-00,NOW"
    assert _partitions(glue, projected) == []
