"""Queries the tests run on the local Athena (which really runs them): one way to run one and read it."""

from __future__ import annotations

import time
from typing import Any

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
# Seconds of work for the local Athena that a cancel stops within milliseconds: a cross join streams,
# where one long sequence() is built whole before DuckDB looks for an interrupt (a cancel of that one
# took 5-8 s of CPU to land).
LONG_QUERY = (
    "SELECT sum(a.x * b.y) FROM UNNEST(sequence(1, 40000)) AS a(x) "
    "CROSS JOIN UNNEST(sequence(1, 40000)) AS b(y)"
)


def run_sql(
    athena: Any,
    sql: str,
    *,
    database: str | None = None,
    output_location: str | None = None,
    timeout: float = 120,
) -> list[list[str | None]]:
    """Run ``sql`` through the ``athena`` client, wait for it, and return its rows as Athena prints them
    (strings, None for NULL; a SELECT's header row left out). A query that does not succeed fails the
    test with Athena's reason. Results go under the configuration's results location, ``tests/``, unless
    ``output_location`` says otherwise; the configuration's work group runs it."""
    from datalake.config import get_config

    config = get_config()
    output_location = output_location or config.athena.output_location("tests")
    workgroup = config.athena.workgroup
    started = athena.start_query_execution(
        QueryString=sql,
        ResultConfiguration={"OutputLocation": output_location},
        WorkGroup=workgroup,
        **({"QueryExecutionContext": {"Database": database}} if database else {}),
    )
    query_id = started["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    while (status := athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"])[
        "State"
    ] not in FINISHED:
        assert time.monotonic() < deadline, f"{sql!r} did not finish in {timeout:.0f}s"
        time.sleep(0.05)
    assert status["State"] == "SUCCEEDED", f"{sql!r}: {status.get('StateChangeReason', status['State'])}"
    rows: list[list[str | None]] = []
    columns: list[str] | None = None
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        if columns is None:
            columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    return rows[1:] if rows and rows[0] == columns else rows
