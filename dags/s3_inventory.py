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
   day's folders are listed). A run for a day before the configuration's `start_date` fails at once,
   naming that key. Reschedule mode: no worker slot is held between pokes. When the drop is
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

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, chain, dag, task

from datalake.assets import inventory_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import InventoryConfig, get_config
from datalake.dag_defaults import dag_args
from datalake.inventory import ddl, intervals
from datalake.inventory import tasks as inventory_tasks

POKE_INTERVAL = timedelta(minutes=10)

config = get_config()


def inventory_dag(inv: InventoryConfig, *, poke_interval: timedelta = POKE_INTERVAL) -> DAG:
    """The DAG of one inventory configuration, ``s3_inventory_<name>``."""
    asset = inventory_asset(inv)

    @dag(
        schedule=CronDataIntervalTimetable(intervals.cron(inv), timezone="UTC"),
        **dag_args(
            inv.dag_id,
            description=f"S3 Inventory {inv.source_bucket}/{inv.config_id} -> {inv.database}.{inv.table}",
            doc_md=__doc__,
            tags=("s3-inventory", "athena"),
            max_active_runs=4,
        ),
    )
    def s3_inventory() -> None:
        @task.sensor(
            mode="reschedule",
            poke_interval=poke_interval,
            timeout=inv.wait_timeout_hours * 3600,
            retries=0,
        )
        def wait_for_drop(data_interval_start=None, data_interval_end=None):
            """Wait for this interval's `manifest.checksum`; fail once the deadline has passed."""
            return inventory_tasks.poke_for_drop(inv, data_interval_start, data_interval_end)

        @task(task_id=ddl.VALIDATE_TASK, retries=0)
        def validate_drop(drop: dict) -> dict:
            """Check the drop before anything is registered; a bad drop fails without retries."""
            return inventory_tasks.validate_drop(inv, drop)

        @task
        def evolve_table(valid: dict) -> list[str]:
            """Append the columns this drop has and the table lacks (a configuration gained fields)."""
            return inventory_tasks.evolve_table(inv, valid)

        @task(outlets=[asset])
        def register_partition(valid: dict, *, outlet_events=None) -> dict:
            """Add this drop's partition through Glue; publish the Asset with the `dt` it registered."""
            outlet_events[asset].extra = inventory_tasks.asset_extra(valid)
            return inventory_tasks.register_partition(inv, valid)

        @task(outlets=[asset])
        def announce_drop(valid: dict, *, outlet_events=None) -> dict:
            """Partition projection: nothing to register; publish the Asset with the drop's `dt`."""
            outlet_events[asset].extra = inventory_tasks.asset_extra(valid)
            return {"dt": valid["dt"], "status": "projected"}

        output_location = config.athena.output_location(inv.dag_id, "{{ ds }}")
        create_database, create_table = (
            IdempotentAthenaOperator(
                task_id=name,
                query=f"{ddl.SQL_SUBDIR}/{name}.sql",
                output_location=output_location,
                params=ddl.table_params(inv),
                doc_md=f"Runs `include/sql/{ddl.SQL_SUBDIR}/{name}.sql` on Athena.",
            )
            for name in ("create_database", "create_table")
        )
        valid = validate_drop(wait_for_drop())
        publish = announce_drop(valid) if inv.partition_projection else register_partition(valid)
        chain(valid, create_database, create_table, evolve_table(valid), publish)

    return s3_inventory()


@dag(
    schedule=None,
    **dag_args(
        "s3_inventory_maintenance",
        description="Find drops missing from the catalogue and partitions whose data is gone; repair them",
        doc_md=__doc__,
        tags=("s3-inventory", "maintenance"),
        params={
            "apply": Param(True, type="boolean", description="False: only report what would be repaired"),
        },
    ),
)
def s3_inventory_maintenance() -> None:
    # a mapped task takes no docstring as its doc: it is given explicitly
    @task(
        map_index_template="{{ task.op_kwargs['name'] }}",
        doc_md="Report (and repair, unless `apply` is false) the gaps of one inventory configuration.",
    )
    def repair_inventory(name: str, params=None, data_interval_end=None) -> dict:
        until = data_interval_end.date() if data_interval_end else None
        return inventory_tasks.repair(name, apply=bool(params["apply"]), until=until)

    repair_inventory.expand(name=[inv.name for inv in config.inventories])


for _inv in config.inventories:
    inventory_dag(_inv)
s3_inventory_maintenance()
