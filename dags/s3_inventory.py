"""
### S3 Inventory: each drop becomes an Athena partition the day it lands

One DAG per inventory configuration of `include/datalake.yaml` (`inventories:`), named
`s3_inventory_<name>`, plus `s3_inventory_maintenance` (run on demand) that finds and repairs gaps.

**Which drop belongs to which run.** A drop dated D (its `D` `T` `HH-MM` `Z` folder) lists the bucket as of
day D. A daily run covers `[D-1 00:00, D 00:00)` UTC and takes the drop dated **D, the date of the data
interval's end**; a weekly run (intervals ending Sunday 00:00 UTC) takes the newest drop dated in the
seven days ending on that Sunday. The partition value is the drop's hive folder name,
`dt=YYYY-MM-DD-HH-MM`.

**Two ways in, one DAG.** With `events_queue_url` set, the DAG is scheduled on its intervals *or* on
its SQS queue (`AssetOrTimeSchedule`): Amazon S3 notifies the queue of each new `manifest.checksum`,
the triggerer's watcher receives the message within seconds, and the run it starts registers the drop
minutes after it landed. The scheduled runs stay as they were: backfills, and the safety net when a
message is lost (the watcher deletes each message as it receives it). One DAG, not a second one per
inventory, because both paths are the same tasks on the same drop; only the first task's way of
finding it differs, and one DAG keeps one run history, one `max_active_runs` and one alert per drop.

**One owner per drop.** Registration is Glue `BatchCreatePartition` of exactly that drop: whichever run
creates the partition (or re-points it) owns the drop and publishes the inventory Asset, so the
summaries run once for it. A run that finds the partition already there, pointing at the same drop,
only confirms it: its `register_partition` is *skipped* and publishes nothing. Two runs racing on one
drop cannot both create it (Glue answers the second `AlreadyExists`).

**Each run**
1. `wait_for_drop`: a run the queue started takes the drops its messages announce, at once (matched
   by bucket and key; the `s3:TestEvent`, another configuration's drop, an unknown key and a body that
   is no S3 notification are named in its log and ignored; with nothing left the run is skipped and
   registers nothing). Any other run waits for its interval's drop's `manifest.checksum` (written
   last; `HH-MM` unknown, so the day's folders are listed). A run for a day before the
   configuration's `start_date` fails at once, naming that key. Reschedule mode: no worker slot is
   held between pokes. When the drop is still missing `wait_timeout_hours` after the interval's end,
   the run fails (and alerts). In a backfill of past days a missing drop therefore fails at once.
2. `validate_drop`: checksum of `manifest.json`, every data file present with its size (and MD5),
   `symlink.txt` listing exactly those files, columns consistent with the table. A bad drop fails
   with a message naming the object and the mismatch, and nothing is registered.
3. `create_database`, `create_table` (Athena, `include/sql/inventory/*.sql`), columns from the drop's
   own `fileSchema`; `evolve_table` appends the columns a configuration gained.
4. `register_partition`: Glue `BatchCreatePartition` of each drop (idempotent, constant cost, no
   `MSCK REPAIR TABLE`); publishes the inventory Asset with `{"dt": ..., "location": ...}` of the
   newest drop it registered, or is skipped when every partition was there already (see above).

With `partition_projection: true` the table is created with partition projection, nothing is
registered, and `announce_drop` publishes the Asset instead (no queue then: there is nothing to start).

**Backfill:** `airflow backfill create --dag-id s3_inventory_<name> --from-date A --to-date B`.
Days with no drop fail (see the run list); `s3_inventory_maintenance` lists them too.

**Reads** the inventory destination bucket; **writes** the Glue catalogue (table, partitions) and Athena
results under `athena.results_prefix/<dag_id>/<ds>/` (a run the queue started: `.../events/<day>/`).
Nothing is ever written to the inventory bucket.

**When it fails** (one alert per failure, see `alerts:` in `include/datalake.yaml`); every task is
idempotent per drop, so once the cause is fixed, *clear* the failed task:
- `wait_for_drop` past its deadline: no drop came. Check the inventory configuration on the source
  bucket (S3 console, *Management* → *Inventory*) and the destination bucket's policy; a late drop is
  picked up by clearing the run.
- `validate_drop`: the message names the object and the mismatch; nothing was registered. A drop
  re-delivered by S3 needs only a clear; otherwise run `s3_inventory_maintenance` to see the gaps.
- A run the queue started that is *skipped*: its messages announced no drop of this configuration;
  its `wait_for_drop` log names each message and why it was ignored.
- `evolve_table` "schema drift": the configuration changed a column's type; recreate the table.
- Athena/Glue tasks: the log has the service's reason (permissions, workgroup, results bucket).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, chain, dag, task

from datalake.assets import inventory_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import InventoryConfig, get_config
from datalake.dag_defaults import dag_args
from datalake.inventory import ddl, intervals
from datalake.inventory import tasks as inventory_tasks

POKE_INTERVAL = timedelta(minutes=10)
RESULTS_FOLDER = "{{ ds if ds is defined else 'events/' ~ (dag_run.run_after | ds) }}"

config = get_config()


def inventory_dag(inv: InventoryConfig, *, poke_interval: timedelta = POKE_INTERVAL) -> DAG:
    """The DAG of one inventory configuration, ``s3_inventory_<name>``."""
    asset = inventory_asset(inv)

    @dag(
        schedule=intervals.schedule(inv),
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
        def wait_for_drop(
            dag_run=None, data_interval_start=None, data_interval_end=None, triggering_asset_events=None
        ):
            """The drops the queue's messages announce, or this interval's, waited for until the deadline."""
            return inventory_tasks.poke_for_drops(
                inv,
                dag_run=dag_run,
                data_interval_start=data_interval_start,
                data_interval_end=data_interval_end,
                triggering_asset_events=triggering_asset_events,
            )

        @task(task_id=ddl.VALIDATE_TASK)
        def validate_drop(drops: list) -> list:
            """Check the drops before anything is registered; a bad drop fails without retries (a read
            that fails on the way is retried like any other)."""
            return inventory_tasks.validate_drops(inv, drops)

        @task
        def evolve_table(valid: list) -> list[str]:
            """Append the columns the drops have and the table lacks (a configuration gained fields)."""
            return inventory_tasks.evolve_table(inv, valid)

        @task(outlets=[asset])
        def register_partition(valid: list, *, outlet_events=None) -> list:
            """Add the drops' partitions through Glue; publish the Asset unless all were there already."""
            return inventory_tasks.register_partitions(inv, valid, outlet_events[asset])

        @task(outlets=[asset])
        def announce_drop(valid: list, *, outlet_events=None) -> list:
            """Partition projection: nothing to register; publish the Asset with the drop's `dt`."""
            return inventory_tasks.announce_drops(valid, outlet_events[asset])

        # a run the queue started has no data interval: its results go under events/<day it ran>/
        output_location = config.athena.output_location(inv.dag_id, RESULTS_FOLDER)
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
