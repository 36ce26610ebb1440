"""Registering one new inventory drop: constant cost (Glue BatchCreatePartition) versus MSCK REPAIR TABLE.

    .venv/bin/python -m bench.inventory_partitions [--small 10] [--large 1000] [--runs 5]

Starts the local AWS (moto + the local Athena) in this process, creates an inventory table whose hive
prefix already holds N partitions (a ``dt=.../symlink.txt`` per drop, all catalogued), then registers one
new drop, several times (each run a new ``dt``), three ways:

- ``glue``: :func:`datalake.inventory.partitions.add_partition`, what the DAG does (BatchCreatePartition);
- ``alter``: ``ALTER TABLE ... ADD IF NOT EXISTS PARTITION ... LOCATION`` through Athena;
- ``msck``: ``MSCK REPAIR TABLE`` through Athena (lists the whole table prefix).

For each, the median wall time and the AWS API calls made by the client (for the Athena paths the local
Athena's own S3/Glue work happens inside the endpoint and is in the time, not the count), at N = small and
N = large, and the ratio large/small (target for the registration path: under 1.2).
Writes bench/results/inventory_partitions.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
COLUMNS = [("bucket", "string"), ("key", "string"), ("size", "bigint")]
# The two ways the pipeline does not register a drop, for comparison (the pipeline's own is Glue's API).
ALTER_ADD_PARTITION = (
    "ALTER TABLE `{inv.database}`.`{inv.table}` ADD IF NOT EXISTS PARTITION (dt = '{dt}') "
    "LOCATION '{inv.hive_location}dt={dt}/'"
)
MSCK_REPAIR = "MSCK REPAIR TABLE `{inv.database}`.`{inv.table}`"


class CallCounter:
    """Counts the API calls a boto3 client makes."""

    def __init__(self, *clients: Any) -> None:
        self.calls = 0
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


def _dt(i: int) -> str:
    return (date(2020, 1, 1) + timedelta(days=i)).isoformat() + "-01-00"


def _prepare(s3: Any, glue: Any, inv: Any, n: int) -> None:
    from datalake.inventory import ddl

    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": inv.database})
    glue.create_table(
        DatabaseName=inv.database,
        TableInput={
            "Name": inv.table,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": ddl.storage_descriptor(inv, COLUMNS, inv.hive_location),
        },
    )
    batch = []
    for i in range(n):
        key = f"{inv.base_prefix}/hive/dt={_dt(i)}/symlink.txt"
        s3.put_object(Bucket=inv.destination_bucket, Key=key, Body=b"")
        location = f"{inv.hive_location}dt={_dt(i)}/"
        batch.append(
            {"Values": [_dt(i)], "StorageDescriptor": ddl.storage_descriptor(inv, COLUMNS, location)}
        )
        if len(batch) == 100 or i == n - 1:
            glue.batch_create_partition(
                DatabaseName=inv.database, TableName=inv.table, PartitionInputList=batch
            )
            batch = []


def _athena(athena: Any, sql: str, inv: Any) -> None:
    from datalake.config import get_config

    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": inv.database},
        ResultConfiguration={"OutputLocation": get_config().athena.output_location("bench")},
    )["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.01)
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(f"{sql[:40]}...: {status}")


def _measure(fn: Any, counter: CallCounter, runs: int, prepare: Any) -> dict[str, float]:
    times, calls = [], []
    for run in range(runs):
        prepare(run)
        made = counter.calls
        start = time.perf_counter()
        fn(run)
        times.append(time.perf_counter() - start)
        calls.append(counter.calls - made)
    return {"median_s": statistics.median(times), "calls": statistics.median(calls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import boto3

    from datalake.config import get_config
    from datalake.inventory import partitions
    from devstack.aws import LocalAws, client_environment

    results: dict[str, Any] = {"runs": args.runs, "sizes": {}}
    with LocalAws() as aws:
        os.environ.update(client_environment(aws.endpoint_url))
        s3, glue, athena = (boto3.client(s, endpoint_url=aws.endpoint_url) for s in ("s3", "glue", "athena"))
        counter = CallCounter(glue, athena)
        base = get_config().inventory("media_daily")
        s3.create_bucket(Bucket=base.destination_bucket)
        s3.create_bucket(Bucket=get_config().athena.results_bucket)
        for n in (args.small, args.large):
            row: dict[str, Any] = {}
            for way in ("glue", "alter", "msck"):
                inv = replace(base, config_id=f"bench-{way}-{n}", database="bench", table=f"inv_{way}_{n}")
                _prepare(s3, glue, inv, n)

                def register(run: int, inv: Any = inv, way: str = way, n: int = n) -> None:
                    dt = _dt(n + run)
                    if way == "glue":
                        partitions.add_partition(glue, inv, dt, COLUMNS)
                    elif way == "alter":
                        _athena(athena, ALTER_ADD_PARTITION.format(inv=inv, dt=dt), inv)
                    else:  # MSCK registers whatever folder is new: this run's one
                        _athena(athena, MSCK_REPAIR.format(inv=inv), inv)

                # the new drop's symlink folder lands just before each run (untimed)
                def land(run: int, inv: Any = inv, n: int = n) -> None:
                    key = f"{inv.base_prefix}/hive/dt={_dt(n + run)}/symlink.txt"
                    s3.put_object(Bucket=inv.destination_bucket, Key=key, Body=b"")

                row[way] = _measure(register, counter, args.runs, prepare=land)
                assert len(partitions.partition_values(glue, inv)) == n + args.runs
            results["sizes"][n] = row
            print(
                f"table with {n:>5} partitions: "
                + "  ".join(
                    f"{way} {m['median_s'] * 1000:8.1f} ms {m['calls']:4.0f} calls" for way, m in row.items()
                )
            )
    small, large = results["sizes"][args.small], results["sizes"][args.large]
    results["ratios"] = {way: large[way]["median_s"] / small[way]["median_s"] for way in small}
    print("ratio large/small (time): " + "  ".join(f"{w} {r:.2f}" for w, r in results["ratios"].items()))
    print("target: glue (the DAG's path) under 1.2")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inventory_partitions.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
