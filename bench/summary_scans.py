"""Bytes scanned by each daily inventory summary of a 1,000,000-object drop, against the floor.

    .venv/bin/python -m bench.summary_scans [--objects 1000000] [--runs 3]

Writes a drop of at least ``--objects`` rows of the embedded stack's simulated bucket
(``devstack.inventory_drops``: versions, delete markers, every storage class, Intelligent-Tiering tiers;
generated 100,000 at a time with different seeds) as four Parquet files in Amazon's layout to the local
AWS (started in this process), makes its table and partition as the inventory DAG does, and runs every
summary of ``include/sql/summaries/`` that reads the drop, as the DAG renders it, ``--runs`` times.

The floor of a summary is what a query of that drop cannot read less than: the day's partition only, and
of its Parquet files only the column chunks of the columns the summary needs (listed below by hand, from
what each summary computes) plus each file's footer. Athena bills by the same measure (bytes of the column
chunks read); the local Athena counts ``DataScannedInBytes`` that way and ``LocalGetQueryReads`` says which
partitions and columns a query read. Target: every summary at most 1.1x its floor. Also printed: what
Athena would bill a day for all of them (5 USD per TB, rounded up to the MB, 10 MB minimum per query).
Writes bench/results/summary_scans.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import statistics
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BUCKET = "bench-summaries"
RESULTS_BUCKET = "bench-summaries-results"
DAY = date(2026, 11, 20)
CHUNK = 100_000  # generate_objects' n per seed
TARGET = 1.1
MB = 1_000_000
ATHENA_USD_PER_TB = 5.0

CURRENT = {"is_latest", "is_delete_marker"}
# The columns each summary needs, from what it computes (not from its SQL): the floor is their chunks.
NEEDS: dict[str, set[str]] = {
    "inventory_storage_classes": CURRENT | {"storage_class", "size", "last_modified_date", "key"},
    "inventory_versions": CURRENT | {"size"},
    "inventory_encryption": CURRENT | {"storage_class", "encryption_status", "size"},
    "inventory_prefixes": CURRENT | {"key", "size"},
    # delete markers are billed for their key names; the tier prices Intelligent-Tiering; ages the durations
    "inventory_costs": CURRENT
    | {"storage_class", "intelligent_tiering_access_tier", "size", "last_modified_date", "key"},
    "inventory_savings_standard": CURRENT | {"storage_class", "size", "last_modified_date", "key"},
    "inventory_savings_noncurrent": CURRENT
    | {"storage_class", "intelligent_tiering_access_tier", "size", "last_modified_date", "key"},
    "inventory_savings_delete_markers": {"is_delete_marker", "key"},
    "inventory_savings_folders": CURRENT
    | {"storage_class", "intelligent_tiering_access_tier", "size", "last_modified_date", "key"},
    "inventory_age_histogram": CURRENT | {"storage_class", "size", "last_modified_date"},
}


def drop_table(objects: int) -> Any:
    """At least ``objects`` rows of the simulated bucket's report of DAY."""
    import pyarrow as pa

    from devstack.inventory_drops import generate_objects

    pieces, rows, seed = [], 0, 1
    while rows < objects:
        piece = generate_objects(DAY, n=CHUNK, seed=seed)
        pieces.append(piece)
        rows += piece.num_rows
        seed += 1
    return pa.concat_tables(pieces)


def floor_bytes(s3: Any, bucket: str, keys: list[str], columns: set[str]) -> int:
    """The footers and the column chunks of ``columns`` of the data files ``keys``."""
    import pyarrow.parquet as pq

    total = 0
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        metadata = pq.ParquetFile(io.BytesIO(body)).metadata
        footer = int.from_bytes(body[-8:-4], "little") + 8
        leaves = [i for i in range(metadata.num_columns) if metadata.schema.column(i).path in columns]
        chunks = sum(
            metadata.row_group(g).column(i).total_compressed_size
            for g in range(metadata.num_row_groups)
            for i in leaves
        )
        total += min(len(body), chunks + footer)
    return total


def billed_usd(scanned: int) -> float:
    """What Athena bills a query that scanned ``scanned`` bytes."""
    return max(10, math.ceil(scanned / MB)) * MB / 1e12 * ATHENA_USD_PER_TB


class Athena:
    def __init__(self, endpoint_url: str) -> None:
        import boto3

        self.endpoint_url = endpoint_url
        self.client = boto3.client("athena", endpoint_url=endpoint_url, region_name="us-east-1")

    def run(self, sql: str) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        query_id = self.client.start_query_execution(
            QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://{RESULTS_BUCKET}/bench/"}
        )["QueryExecutionId"]
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.01)
        if execution["Status"]["State"] != "SUCCEEDED":
            raise RuntimeError(f"query failed: {execution['Status'].get('StateChangeReason')}\n{sql}")
        self.client.get_query_results(QueryExecutionId=query_id, MaxResults=1000)
        return time.perf_counter() - start, execution

    def reads(self, query_id: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310 - the local endpoint
            self.endpoint_url,
            data=json.dumps({"QueryExecutionId": query_id}).encode(),
            headers={
                "X-Amz-Target": "AmazonAthena.LocalGetQueryReads",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read())["Reads"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each summary (at least 1)")
    args = parser.parse_args(argv)

    import boto3

    from datalake.config import get_config
    from datalake.inventory import ddl, partitions
    from datalake.inventory.manifest import schema_columns
    from datalake.reports.queries import INVENTORY_QUERIES, inventory_values, render_query
    from devstack.aws import LocalAws, client_environment
    from devstack.inventory_drops import write_config_drop

    config = get_config()
    inv = dataclasses.replace(
        config.inventories[0],
        destination_bucket=BUCKET,
        destination_prefix="inventory",
        database="bench_summaries",
        table="media_daily",
        partition_projection=False,
    )
    with LocalAws() as aws:
        os.environ.update(client_environment(aws.endpoint_url))
        s3, glue, athena = boto3.client("s3"), boto3.client("glue"), Athena(aws.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=RESULTS_BUCKET)
        started = time.perf_counter()
        table = drop_table(args.objects)
        drop = write_config_drop(s3, inv, DAY, fmt="Parquet", files=4, table=table)
        data_bytes = sum(f["size"] for f in drop.manifest["files"])
        print(
            f"wrote a drop of {table.num_rows:,} rows in {len(drop.data_keys)} Parquet files, {data_bytes:,} "
            f"bytes ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
        columns = schema_columns("Parquet", drop.manifest["fileSchema"])
        athena.run(f"CREATE DATABASE IF NOT EXISTS {inv.database}")
        athena.run(ddl.render("create_table.sql", inv, drop={"columns": columns}))
        partitions.add_partition(glue, inv, drop.dt, columns)
        values = inventory_values(config, inv, drop.dt, None, tiers=True)

        figures: dict[str, Any] = {}
        for query in INVENTORY_QUERIES:
            if query.name not in NEEDS:  # the trend reads the summary table: bench.trend_history
                continue
            sql = render_query(query, values)
            athena.run(sql)  # warm-up, untimed
            times, scanned, reads = [], set(), []
            for _ in range(args.runs):
                seconds, execution = athena.run(sql)
                times.append(seconds)
                scanned.add(execution["Statistics"]["DataScannedInBytes"])
                reads = athena.reads(execution["QueryExecutionId"])
            floor = floor_bytes(s3, BUCKET, drop.data_keys, NEEDS[query.name])
            (bytes_scanned,) = scanned  # the same every run
            read_columns = sorted({c for r in reads for c in r["columns"]} - {"dt"})
            figures[query.name] = {
                "scanned_bytes": bytes_scanned,
                "floor_bytes": floor,
                "ratio": round(bytes_scanned / floor, 3),
                "partitions_read": sorted({tuple(p) for r in reads for p in r["partitions"]}),
                "columns_read": read_columns,
                "columns_needed": sorted(NEEDS[query.name]),
                "median_s": round(statistics.median(times), 3),
                "runs_s": [round(t, 3) for t in times],
                "billed_usd": billed_usd(bytes_scanned),
            }
            f = figures[query.name]
            extra = sorted(set(read_columns) - NEEDS[query.name])
            print(
                f"  {query.name:34s} scanned {bytes_scanned:>12,}  floor {floor:>12,}  {f['ratio']:.2f}x  "
                f"{f['median_s']:.2f}s{'  reads more: ' + ', '.join(extra) if extra else ''}",
                flush=True,
            )

    worst = max(f["ratio"] for f in figures.values())
    result = {
        "objects": table.num_rows,
        "files": len(drop.data_keys),
        "data_bytes": data_bytes,
        "runs": args.runs,
        "target_ratio": TARGET,
        "worst_ratio": worst,
        "met": worst <= TARGET,
        "scanned_bytes_all": sum(f["scanned_bytes"] for f in figures.values()),
        "athena_usd_a_day": round(sum(f["billed_usd"] for f in figures.values()), 6),
        "summaries": figures,
    }
    verdict = "met" if result["met"] else "NOT met"
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x: {verdict})")
    print(
        f"all of them scan {result['scanned_bytes_all']:,} bytes a day: "
        f"{result['athena_usd_a_day']:.4f} USD at Athena's price"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary_scans.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
