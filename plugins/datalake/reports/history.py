"""The daily storage summary: one row per inventory, day and storage class, in Parquet, with an Athena table.

Every summaries run writes the rows of its day, one object per inventory::

    s3://<reports.bucket>/<reports.summary_prefix>/inventory=<name>/day=YYYY-MM-DD/summary.parquet

and the table ``<reports.summary_database>.<reports.summary_table>`` (``daily_storage_create_table.sql``,
partitioned by ``inventory`` and ``day``, both projected) reads them. The cost trend, the growth chart,
the change since the day before and the anomaly checks read that table (``inventory_trend.sql``: one
inventory, a window of days), never an earlier inventory drop: a day of one inventory is one file of a
few kilobytes, and what the trend reads is bounded by its window, however long the history.

A row holds only facts of its own day (no change against another day), and the same results always give
the same bytes: a day summarised again, by a retry or a second backfill, leaves the same object.
"""

from __future__ import annotations

import io
from functools import cached_property
from typing import TYPE_CHECKING, Any

from datalake.config import DatalakeConfig
from datalake.reports.queries import check_day

if TYPE_CHECKING:
    import pyarrow as pa

# (column, Athena type): the table's columns, in the files' order (the partitions, inventory and day,
# are the folders). Dollars are USD a month.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dt", "string"),  # the drop the day summarised
    ("storage_class", "string"),
    ("objects", "bigint"),  # current versions
    ("bytes", "bigint"),
    ("noncurrent_objects", "bigint"),
    ("noncurrent_bytes", "bigint"),
    ("delete_markers", "bigint"),  # billed in STANDARD, so they are in STANDARD's row
    ("unencrypted_objects", "bigint"),  # current versions with encryption status NOT-SSE
    ("cost_current", "double"),
    ("cost_noncurrent", "double"),
    ("cost_delete_markers", "double"),
    ("commitment", "double"),  # the minimum-duration charge still due if the objects went that day
    ("prices_as_of", "string"),
)
PROJECTION_START = "2016-01-01"  # before any S3 Inventory report
UNENCRYPTED = "NOT-SSE"


def table_params(config: DatalakeConfig) -> dict[str, Any]:
    """``params`` of the DDL templates ``daily_storage_create_*.sql``."""
    return {
        "database": config.reports.summary_database,
        "table": config.reports.summary_table,
        "location": location(config),
        "columns": [list(column) for column in COLUMNS],
        "projection_start": PROJECTION_START,
    }


def location(config: DatalakeConfig) -> str:
    prefix = config.reports.summary_prefix.strip("/")
    return f"s3://{config.reports.bucket}/{prefix}/" if prefix else f"s3://{config.reports.bucket}/"


def key(config: DatalakeConfig, day: str, inventory: str) -> str:
    prefix = config.reports.summary_prefix.strip("/")
    name = f"inventory={inventory}/day={check_day(day).isoformat()}/summary.parquet"
    return f"{prefix}/{name}" if prefix else name


def day_rows(
    dt: str,
    results: dict[str, Any],
    class_costs: list[dict[str, Any]] | None,
    prices_as_of: str,
) -> list[dict[str, Any]]:
    """The rows of one inventory's day from its summaries' results, one per storage class, sorted.

    Counts come from the costs query (versions apart) or, when it failed, from the storage classes query
    (current versions only); a value that no successful query gave is null.
    """
    rows: dict[str, dict[str, Any]] = {}

    def row(storage_class: str) -> dict[str, Any]:
        return rows.setdefault(
            storage_class,
            {name: None for name, _ in COLUMNS}
            | {
                "dt": dt,
                "storage_class": storage_class,
                "prices_as_of": prices_as_of,
            },
        )

    if class_costs is not None:
        for entry in class_costs:
            r = row(entry["storage_class"])
            r.update(
                objects=entry["current_objects"],
                bytes=entry["current_bytes"],
                noncurrent_objects=entry["noncurrent_objects"],
                noncurrent_bytes=entry["noncurrent_bytes"],
                delete_markers=entry["delete_marker_objects"],
                cost_current=entry["current_usd"],
                cost_noncurrent=entry["noncurrent_usd"],
                cost_delete_markers=entry["delete_marker_usd"],
                commitment=entry["commitment_usd"],
            )
    elif results.get("inventory_storage_classes") is not None:
        for entry in results["inventory_storage_classes"]:
            row(entry["storage_class"]).update(objects=entry["objects"], bytes=entry["bytes"])
    encryption = results.get("inventory_encryption")
    if encryption is not None:
        for r in rows.values():
            r["unencrypted_objects"] = 0
        for entry in encryption:
            if entry["encryption_status"] == UNENCRYPTED:
                r = row(entry["storage_class"])
                r["unencrypted_objects"] = (r["unencrypted_objects"] or 0) + entry["objects"]
    return [rows[name] for name in sorted(rows)]


def arrow_schema() -> pa.Schema:
    """:data:`COLUMNS` as the files' Arrow schema (pyarrow is imported here: the DAG file imports this
    module to name the table, and only a running task needs pyarrow)."""
    import pyarrow as pa

    kinds = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
    return pa.schema([pa.field(name, kinds[kind]) for name, kind in COLUMNS])


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """The rows as a Parquet file: the same rows, the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=arrow_schema())
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


class SummaryTable:
    """Writes the daily storage summary's objects; the connection is resolved on first use."""

    def __init__(self, config: DatalakeConfig) -> None:
        self.config = config

    @cached_property
    def hook(self) -> Any:
        """The S3 hook of the configuration's connection, made on first use."""
        from datalake import aws

        return aws.s3_hook(self.config)

    def write(self, day: str, inventory: str, rows: list[dict[str, Any]]) -> str:
        """Replace the inventory's object of ``day`` with ``rows``; returns its URL."""
        name = key(self.config, day, inventory)
        self.hook.load_bytes(parquet_bytes(rows), name, self.config.reports.bucket, replace=True)
        return f"s3://{self.config.reports.bucket}/{name}"


# -- reading the trend back ------------------------------------------------------------------------------
def days(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows of the summary table (``inventory_trend.sql``, or :func:`day_rows`) by day, oldest first."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: (r["day"], r["storage_class"])):
        by_day.setdefault(r["day"], []).append(r)
    return by_day


def _sum(rows: list[dict[str, Any]], column: str) -> float | int | None:
    values = [r[column] for r in rows]
    return None if any(v is None for v in values) else sum(values)


def day_totals(day: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One day of the trend: its drop, objects, bytes, delete markers and unencrypted objects in all (None
    when a row lacks it), its cost (of the classes with a price, as the day's total), and the cost per
    class."""
    cost = {}
    for r in rows:
        parts = [r["cost_current"], r["cost_noncurrent"], r["cost_delete_markers"]]
        cost[r["storage_class"]] = None if any(p is None for p in parts) else sum(parts)
    known = [v for v in cost.values() if v is not None]
    return {
        "day": day,
        "dt": rows[0]["dt"] if rows else None,
        "objects": _sum(rows, "objects"),
        "bytes": _sum(rows, "bytes"),
        "noncurrent_bytes": _sum(rows, "noncurrent_bytes"),
        "delete_markers": _sum(rows, "delete_markers"),
        "unencrypted_objects": _sum(rows, "unencrypted_objects"),
        "cost": sum(known) if known else None,
        "cost_by_class": cost,
    }


def trend(before: list[dict[str, Any]], day: str, today: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The days of the trend, oldest first: those the summary table holds before ``day``, then ``day``."""
    series = [day_totals(d, rows) for d, rows in days(before).items() if d < day]
    if today:
        series.append(day_totals(day, today))
    return series
