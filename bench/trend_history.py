"""The cost of the cost trend as history grows: the trend query at 10, 90 and 365 days of history.

    .venv/bin/python -m bench.trend_history [--runs 5]

Makes the daily storage summary's table with the DAG's own DDL on the local AWS (started in this
process) and writes, for three inventories, 10, 90 and 365 days of rows (nine storage classes a day, as
the publish task writes them, ``datalake.reports.history``), all ending the day before the report day.
Then runs each inventory's trend query (``inventory_trend.sql``, the report's 90-day window) ``--runs``
times and reports, per history: the rows and files it read, ``DataScannedInBytes``, what Athena would
bill (5 USD per TB, rounded up to the MB, 10 MB minimum per query) and the median time, and the ratios
365 days / 10 days and 365 days / 90 days (target: under 1.2).

What the trend reads is bounded by its window: a day older than the window is never read. So from 90
days of history on, the cost is the same whatever the history's length; before that the window is
still filling up, and the bytes grow with it (from 10 to 89 files), while the bill stays at Athena's
10 MB minimum either way. Writes bench/results/trend_history.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BUCKET = "bench-trend"
RESULTS_BUCKET = "bench-trend-results"
REPORT_DAY = date(2026, 11, 20)
HISTORIES = (10, 90, 365)
CLASSES = (
    "DEEP_ARCHIVE",
    "GLACIER",
    "GLACIER_IR",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "REDUCED_REDUNDANCY",
    "STANDARD",
    "STANDARD_IA",
    "UNKNOWN",
)
MB = 1_000_000
TARGET = 1.2


def day_rows(day: date, n: int) -> list[dict[str, Any]]:
    """One day of one inventory: a row per storage class, numbers that change from day to day."""
    rows = []
    for i, storage_class in enumerate(CLASSES):
        objects = 100_000 * (i + 1) + 37 * n
        rows.append(
            {
                "dt": f"{day.isoformat()}-01-00",
                "storage_class": storage_class,
                "objects": objects,
                "bytes": objects * 3_500_000,
                "noncurrent_objects": objects // 10,
                "noncurrent_bytes": objects * 350_000,
                "delete_markers": objects // 50,
                "unencrypted_objects": objects // 100,
                "cost_current": objects * 0.0000805 + n * 0.01,
                "cost_noncurrent": objects * 0.00000805,
                "cost_delete_markers": objects * 0.0000000001,
                "commitment": objects * 0.00001,
                "prices_as_of": "2026-12-01",
            }
        )
    return rows


def billed_usd(scanned: int) -> float:
    return max(10, math.ceil(scanned / MB)) * MB / 1e12 * 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each trend query (at least 3)")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3")

    import boto3

    from datalake.config import get_config
    from datalake.reports.history import SummaryTable, table_params
    from datalake.reports.queries import inventory_values, render_query
    from devstack.aws import LocalAws, client_environment

    base = get_config()
    config = dataclasses.replace(
        base,
        reports=dataclasses.replace(
            base.reports, bucket=BUCKET, summary_database="bench_trend", summary_prefix="daily-storage"
        ),
    )
    figures: dict[str, Any] = {}
    with LocalAws() as aws:
        os.environ.update(client_environment(aws.endpoint_url))
        # the summary table's writer goes through aws_default, as in the publish task
        connection = {
            "conn_type": "aws",
            "extra": {"endpoint_url": aws.endpoint_url, "region_name": "us-east-1"},
        }
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(connection)
        s3, athena = boto3.client("s3"), boto3.client("athena")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=RESULTS_BUCKET)

        def run(sql: str) -> tuple[float, dict[str, Any]]:
            start = time.perf_counter()
            query_id = athena.start_query_execution(
                QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://{RESULTS_BUCKET}/bench/"}
            )["QueryExecutionId"]
            while (execution := athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"])[
                "Status"
            ]["State"] in ("QUEUED", "RUNNING"):
                time.sleep(0.01)
            if execution["Status"]["State"] != "SUCCEEDED":
                raise RuntimeError(f"query failed: {execution['Status'].get('StateChangeReason')}")
            rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
            return time.perf_counter() - start, execution | {"rows": len(rows) - 1}

        params = {"params": table_params(config)}
        for name in ("daily_storage_create_database", "daily_storage_create_table"):
            run(render_query(name, params))
        table = SummaryTable(config)
        for days in HISTORIES:
            for back in range(days, 0, -1):
                day = REPORT_DAY - timedelta(days=back)
                table.write(day.isoformat(), f"history_{days}", day_rows(day, back))
        for days in HISTORIES:
            inventory = dataclasses.replace(config.inventories[0], name=f"history_{days}")
            sql = render_query(
                "inventory_trend", inventory_values(config, inventory, f"{REPORT_DAY}-01-00", None)
            )
            run(sql)  # warm-up
            times, scanned, rows = [], set(), set()
            for _ in range(args.runs):
                seconds, execution = run(sql)
                times.append(seconds)
                scanned.add(execution["Statistics"]["DataScannedInBytes"])
                rows.add(execution["rows"])
            (bytes_scanned,) = scanned
            (read_rows,) = rows
            figures[str(days)] = {
                "history_days": days,
                "rows_read": read_rows,
                "files_read": read_rows // len(CLASSES),
                "scanned_bytes": bytes_scanned,
                "billed_usd": billed_usd(bytes_scanned),
                "median_s": round(statistics.median(times), 4),
                "runs_s": [round(t, 4) for t in times],
            }
            f = figures[str(days)]
            print(
                f"  {days:>3} days of history: {f['files_read']:>3} days read, {bytes_scanned:>9,} bytes "
                f"scanned, billed {f['billed_usd']:.6f} USD, median {f['median_s'] * 1000:.0f} ms",
                flush=True,
            )

    short, window, long = (figures[str(d)] for d in HISTORIES)
    result = {
        "window_days": config.reports.trend_days,
        "runs": args.runs,
        "histories": figures,
        "scanned_ratio_365_to_10": round(long["scanned_bytes"] / short["scanned_bytes"], 2),
        "scanned_ratio_365_to_90": round(long["scanned_bytes"] / window["scanned_bytes"], 2),
        "billed_ratio_365_to_10": round(long["billed_usd"] / short["billed_usd"], 2),
        "time_ratio_365_to_10": round(long["median_s"] / short["median_s"], 2),
        "time_ratio_365_to_90": round(long["median_s"] / window["median_s"], 2),
    }
    print(
        f"365 vs 10 days: billed {result['billed_ratio_365_to_10']}x, "
        f"time {result['time_ratio_365_to_10']}x, bytes {result['scanned_ratio_365_to_10']}x "
        "(the window fills up: 10 -> 89 days read)"
    )
    print(
        f"365 vs 90 days: bytes {result['scanned_ratio_365_to_90']}x, time {result['time_ratio_365_to_90']}x "
        f"(target < {TARGET}: history beyond the window is never read)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trend_history.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
