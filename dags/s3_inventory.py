"""
### S3 Inventory: each drop becomes an Athena partition the day it lands

One DAG per inventory configuration of `include/datalake.yaml` (`inventories:`), named
`s3_inventory_<name>`, plus `s3_inventory_maintenance` (run on demand) that finds and repairs gaps.

**Which drop belongs to which run.** A drop dated D (its `D` `T` `HH-MM` `Z` folder) lists the bucket as of
day D. A daily run covers `[D-1 00:00, D 00:00)` UTC and takes the drop dated **D, the date of the data
interval's end**; a weekly run (intervals ending Sunday 00:00 UTC) takes the newest drop dated in the
seven days ending on that Sunday. The partition value is the drop's hive folder name,
`dt=YYYY-MM-DD-HH-MM`.

**Each run**
1. `wait_for_drop`: waits for the drop's `manifest.checksum` (written last; `HH-MM` unknown, so the
   day's folders are listed). Reschedule mode: no worker slot is held between pokes. When the drop is
   still missing `wait_timeout_hours` after the interval's end, the run fails (and alerts). In a
   backfill of past days a missing drop therefore fails at once, naming the day.
2. `validate_drop`: checksum of `manifest.json`, every data file present with its size (and MD5),
   `symlink.txt` listing exactly those files, columns consistent with the table. A bad drop fails
   with a message naming the object and the mismatch, and nothing is registered.
3. `create_database`, `create_table` (Athena, `include/sql/inventory/*.sql`), columns from the drop's
   own `fileSchema`; `evolve_table` appends the columns a configuration gained.
4. `register_partition`: Glue `BatchCreatePartition` of this one drop (idempotent, constant cost, no
   `MSCK REPAIR TABLE`), and publishes the inventory Asset with `{"dt": ...}` in the event's extra.

With `partition_projection: true` the table is created with partition projection, nothing is
registered, and `announce_drop` publishes the Asset instead.

**Backfill:** `airflow backfill create --dag-id s3_inventory_<name> --from-date A --to-date B`.
Days with no drop fail (see the run list); `s3_inventory_maintenance` lists them too.

**Reads** the inventory destination bucket; **writes** the Glue catalogue (table, partitions) and Athena
results under `athena.results_prefix/<dag_id>/<ds>/`. Nothing is ever written to the inventory bucket.

**When it fails** (one alert per failure, see `alerts:` in `include/datalake.yaml`); every task is
idempotent per drop, so once the cause is fixed, *clear* the failed task:
- `wait_for_drop` past its deadline: no drop came. Check the inventory configuration on the source
  bucket (S3 console, *Management* → *Inventory*) and the destination bucket's policy; a late drop is
  picked up by clearing the run.
- `validate_drop`: the message names the object and the mismatch; nothing was registered. A drop
  re-delivered by S3 needs only a clear; otherwise run `s3_inventory_maintenance` to see the gaps.
- `evolve_table` "schema drift": the configuration changed a column's type; recreate the table.
- Athena/Glue tasks: the log has the service's reason (permissions, workgroup, results bucket).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

# Named here so that the dag-processor imports them once, before it forks a parser for this file
# ([dag_processor] parsing_pre_import_modules): boto3, the s3:// URI handler Airflow loads for the
# first Asset and the @task.sensor decorator then stay out of every parse.
import airflow.providers.amazon.aws.assets.s3
import airflow.providers.amazon.aws.operators.athena
import airflow.providers.standard.decorators.sensor  # noqa: F401
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, PokeReturnValue, chain, task

from datalake.assets import inventory_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import SQL_DIR, InventoryConfig, get_config
from datalake.dag_defaults import dag_failure_callbacks, default_args
from datalake.inventory import ddl, intervals

POKE_INTERVAL = timedelta(minutes=10)


def _s3() -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    config = get_config()
    return S3Hook(aws_conn_id=config.aws_conn_id, region_name=config.region).get_conn()


def _glue() -> Any:
    from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

    config = get_config()
    return GlueCatalogHook(aws_conn_id=config.aws_conn_id, region_name=config.region).get_conn()


def _athena(task_id: str, sql: str, inv: InventoryConfig, poll: int) -> IdempotentAthenaOperator:
    config = get_config()
    return IdempotentAthenaOperator(
        task_id=task_id,
        query=f"{ddl.SQL_SUBDIR}/{sql}",
        params=ddl.table_params(inv),
        output_location=config.athena.output_location(inv.dag_id, "{{ ds }}"),
        workgroup=config.athena.workgroup,
        aws_conn_id=config.aws_conn_id,
        region_name=config.region,
        sleep_time=poll,
        execution_timeout=timedelta(minutes=config.athena.query_timeout_minutes),
        doc_md=f"Runs `include/sql/{ddl.SQL_SUBDIR}/{sql}` on Athena.",
    )


def build_inventory_dag(
    inv: InventoryConfig, *, poke_interval: timedelta = POKE_INTERVAL, athena_poll_seconds: int = 5
) -> DAG:
    """The DAG of one inventory configuration."""
    asset = inventory_asset(inv)
    with DAG(
        dag_id=inv.dag_id,
        description=f"S3 Inventory {inv.source_bucket}/{inv.config_id} -> {inv.database}.{inv.table}",
        doc_md=__doc__,
        schedule=CronDataIntervalTimetable(intervals.cron(inv), timezone="UTC"),
        start_date=_start(inv.start_date),
        catchup=False,
        max_active_runs=4,
        default_args=default_args(),
        on_failure_callback=dag_failure_callbacks(),
        template_searchpath=[str(SQL_DIR)],
        tags=["s3-inventory", "athena"],
    ) as dag:

        @task.sensor(
            task_id="wait_for_drop",
            mode="reschedule",
            poke_interval=poke_interval,
            timeout=inv.wait_timeout_hours * 3600,
            retries=0,
        )
        def wait_for_drop(data_interval_end: Any = None) -> PokeReturnValue:
            """Wait for this interval's `manifest.checksum`; fail once the deadline has passed."""
            from airflow.sdk import timezone
            from airflow.sdk.exceptions import AirflowSensorTimeout

            drop = intervals.find_drop(_s3(), inv, data_interval_end)
            if drop is not None:
                return PokeReturnValue(is_done=True, xcom_value=drop.as_dict())
            deadline = intervals.deadline(inv, data_interval_end)
            days = ", ".join(d.isoformat() for d in intervals.drop_days(inv, data_interval_end))
            where = f"s3://{inv.destination_bucket}/{inv.base_prefix}/"
            if timezone.utcnow() >= deadline:
                raise AirflowSensorTimeout(
                    f"no complete drop (manifest.checksum) dated {days} under {where} by the deadline "
                    f"{deadline.isoformat()} ({inv.wait_timeout_hours} h after the interval's end)"
                )
            return PokeReturnValue(is_done=False)

        @task(task_id=ddl.VALIDATE_TASK, retries=0)
        def validate_drop(drop: dict[str, Any]) -> dict[str, Any]:
            """Check the drop before anything is registered; a bad drop fails without retries."""
            from airflow.sdk.exceptions import AirflowFailException

            from datalake.inventory.manifest import DropRef
            from datalake.inventory.validate import DropValidationError
            from datalake.inventory.validate import validate_drop as check

            columns = ddl.table_columns(ddl.get_table(_glue(), inv))
            try:
                return check(_s3(), inv, DropRef.from_dict(drop), columns).as_dict()
            except DropValidationError as exc:
                raise AirflowFailException(f"invalid inventory drop, nothing registered: {exc}") from None

        @task(task_id="evolve_table")
        def evolve_table(valid: dict[str, Any]) -> list[str]:
            """Append the columns this drop has and the table lacks (a configuration gained fields)."""
            from airflow.sdk.exceptions import AirflowFailException

            from datalake.inventory.manifest import DropRef
            from datalake.inventory.validate import SchemaDrift, check_schema

            glue = _glue()
            columns = [tuple(c) for c in valid["columns"]]
            try:
                new = check_schema(
                    DropRef.from_dict(valid),
                    tuple(columns),
                    ddl.table_columns(ddl.get_table(glue, inv)),
                    valid["file_format"],
                )
            except SchemaDrift as exc:
                raise AirflowFailException(str(exc)) from None
            return ddl.add_columns(glue, inv, list(new))

        @task(task_id="register_partition", outlets=[asset])
        def register_partition(valid: dict[str, Any], *, outlet_events: Any = None) -> dict[str, str]:
            """Add this drop's partition through Glue; publish the Asset with the `dt` it registered."""
            from datalake.inventory import partitions

            columns = [(c[0], c[1]) for c in valid["columns"]]
            status = partitions.add_partition(_glue(), inv, valid["dt"], columns)
            outlet_events[asset].extra = {"dt": valid["dt"], "location": valid["location"]}
            return {"dt": valid["dt"], "status": status}

        @task(task_id="announce_drop", outlets=[asset])
        def announce_drop(valid: dict[str, Any], *, outlet_events: Any = None) -> dict[str, str]:
            """Partition projection: nothing to register; publish the Asset with the drop's `dt`."""
            outlet_events[asset].extra = {"dt": valid["dt"], "location": valid["location"]}
            return {"dt": valid["dt"], "status": "projected"}

        drop = wait_for_drop()
        valid = validate_drop(drop)
        create_database = _athena("create_database", "create_database.sql", inv, athena_poll_seconds)
        create_table = _athena("create_table", "create_table.sql", inv, athena_poll_seconds)
        publish = announce_drop(valid) if inv.partition_projection else register_partition(valid)
        chain(valid, create_database, create_table, evolve_table(valid), publish)
    return dag


def build_maintenance_dag() -> DAG:
    """``s3_inventory_maintenance``: on demand, find and repair gaps in every configuration."""
    names = [inv.name for inv in get_config().inventories]
    with DAG(
        dag_id="s3_inventory_maintenance",
        description="Find drops missing from the catalogue and partitions whose data is gone; repair them",
        doc_md=__doc__,
        schedule=None,
        start_date=_start(min((inv.start_date for inv in get_config().inventories), default="2026-01-01")),
        catchup=False,
        default_args=default_args(),
        on_failure_callback=dag_failure_callbacks(),
        params={
            "apply": Param(True, type="boolean", description="False: only report what would be repaired"),
        },
        tags=["s3-inventory", "maintenance"],
    ) as dag:

        @task(
            task_id="repair_inventory",
            map_index_template="{{ task.op_kwargs['name'] }}",
            doc_md="Report (and repair, unless `apply` is false) the gaps of one inventory configuration.",
        )
        def repair_inventory(name: str, params: Any = None, data_interval_end: Any = None) -> dict[str, Any]:
            """Report (and repair, unless `apply` is false) the gaps of one configuration."""
            import logging

            from airflow.sdk import timezone

            from datalake.inventory.repair import repair_inventory as repair

            inv = get_config().inventory(name)
            until = (data_interval_end or timezone.utcnow()).date()
            report = repair(_s3(), _glue(), inv, until=until, apply=bool(params["apply"]))
            logging.getLogger(__name__).info("%s", report.summary())
            return report.as_dict()

        repair_inventory.expand(name=names)
    return dag


def _start(day: str) -> Any:
    from airflow.sdk import timezone

    return timezone.parse(f"{day}T00:00:00+00:00")


for _inv in get_config().inventories:
    globals()[_inv.dag_id] = build_inventory_dag(_inv)
maintenance = build_maintenance_dag()
