"""Which summary queries run, with which values, and how their results are read back.

The SQL lives in ``include/sql/summaries/*.sql`` (Athena's Trino dialect). Each file is a Jinja
template over a few plain values (the partition ``dt`` and ``previous_dt`` of an inventory drop and its
report ``format``, the report ``day`` and the windows derived from it for Strava);
:func:`inventory_values` and :func:`strava_values` compute them, and every value is checked before it
reaches a SQL literal (``format`` only chooses between two spellings of the key, in the template).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import jinja2

from datalake.config import SQL_DIR, DatalakeConfig, InventoryConfig
from datalake.inventory.layout import check_dt

STRAVA_SOURCE = "strava"

# Matched whole (``fullmatch``: ``$`` would let a trailing newline through), ASCII digits only.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUERY_EXECUTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class SummaryQuery:
    """One summary: its SQL file (without ``.sql``) and the title the report gives it."""

    name: str
    title: str

    @property
    def task_id(self) -> str:
        """The query task's id inside its source's task group: the name without its source prefix."""
        return self.name.split("_", 1)[1]

    @property
    def template(self) -> str:
        """The template path as Airflow's ``template_searchpath`` (``include/sql``) resolves it."""
        return f"summaries/{self.name}.sql"


INVENTORY_QUERIES: tuple[SummaryQuery, ...] = (
    SummaryQuery("inventory_storage_classes", "Storage classes"),
    SummaryQuery("inventory_versions", "Versions and delete markers"),
    SummaryQuery("inventory_encryption", "Encryption"),
    SummaryQuery("inventory_prefixes", "Top-level prefixes"),
    SummaryQuery("inventory_day_over_day", "Change since the previous drop"),
)
STRAVA_QUERIES: tuple[SummaryQuery, ...] = (
    SummaryQuery("strava_weekly", "Weekly training volume"),
    SummaryQuery("strava_year_to_date", "Year to date"),
    SummaryQuery("strava_longest", "Longest activities"),
)

QUERIES = {query.name: query for query in (*INVENTORY_QUERIES, *STRAVA_QUERIES)}

WEEKS_SHOWN = 12  # weekly volume: this ISO week and the eleven before it


def inventory_source(inventory: InventoryConfig) -> str:
    """The source name of an inventory configuration (task group, output prefix, report section)."""
    return f"inventory_{inventory.name}"


def check_day(value: str, what: str = "report day") -> date:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError(f"{what} must look like YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} is not a calendar date: {value!r}") from None


def _identifier(value: str, what: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{what} must be a plain SQL identifier, got {value!r}")
    return value


def inventory_values(inventory: InventoryConfig, dt: str, previous_dt: str | None) -> dict[str, str]:
    """Template values of the inventory summaries: the drop's partition, the one before it, and the
    report format (CSV reports URL-encode the object keys; the SQL decodes them for CSV only)."""
    return {
        "database": _identifier(inventory.database, f"inventory {inventory.name!r}: database"),
        "table": _identifier(inventory.table, f"inventory {inventory.name!r}: table"),
        "dt": check_dt(dt),
        "previous_dt": check_dt(previous_dt, "previous partition dt") if previous_dt else "",
        "format": inventory.format,
    }


def _same_day_last_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def strava_values(config: DatalakeConfig, day: str) -> dict[str, str]:
    """Template values of the Strava summaries, all derived from the report day (UTC dates)."""
    d = check_day(day)
    last_year_day = _same_day_last_year(d)
    monday = d - timedelta(days=d.weekday())
    return {
        "database": _identifier(config.strava.database, "strava: database"),
        "table": _identifier(config.strava.table, "strava: table"),
        "day": d.isoformat(),
        "day_after": (d + timedelta(days=1)).isoformat(),
        "weeks_from": (monday - timedelta(weeks=WEEKS_SHOWN - 1)).isoformat(),
        "year_start": d.replace(month=1, day=1).isoformat(),
        "last_year_start": last_year_day.replace(month=1, day=1).isoformat(),
        "last_year_day": last_year_day.isoformat(),
        "last_year_day_after": (last_year_day + timedelta(days=1)).isoformat(),
        "longest_from": (d - timedelta(days=364)).isoformat(),
    }


def render_query(query: SummaryQuery | str, values: dict[str, Any]) -> str:
    """The SQL of a summary with its values filled in (strict: a missing value is an error).

    Airflow renders the same files the same way when the DAG runs them.
    """
    name = query.name if isinstance(query, SummaryQuery) else query
    env = jinja2.Environment(  # noqa: S701 - renders SQL, not HTML
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(f"summaries/{name}.sql").render(**values)


_INTEGER_TYPES = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT_TYPES = {"double", "float", "real", "decimal"}


def _convert(value: str | None, athena_type: str) -> Any:
    if value is None:
        return None
    kind = athena_type.lower().split("(")[0]
    if kind in _INTEGER_TYPES:
        return int(value)
    if kind in _FLOAT_TYPES:
        return float(value)
    if kind == "boolean":
        return value.lower() == "true"
    return value


def check_query_execution_id(value: Any, what: str) -> str:
    """``value`` if it is an Athena query execution id (a UUID), else a ValueError naming ``what``."""
    if not isinstance(value, str) or not _QUERY_EXECUTION_ID.fullmatch(value):
        raise ValueError(f"{what} must be an Athena query execution id, got {value!r}")
    return value


def fetch_results(athena_client: Any, query_execution_id: str) -> list[dict[str, Any]]:
    """All rows of a finished query, as dicts typed from Athena's column metadata (GetQueryResults)."""
    paginator = athena_client.get_paginator("get_query_results")
    columns: list[tuple[str, str]] | None = None
    rows: list[dict[str, Any]] = []
    first = True
    for page in paginator.paginate(QueryExecutionId=query_execution_id):
        result_set = page["ResultSet"]
        if columns is None:
            columns = [(c["Name"], c["Type"]) for c in result_set["ResultSetMetadata"]["ColumnInfo"]]
        for row in result_set.get("Rows", []):
            cells = [cell.get("VarCharValue") for cell in row["Data"]]
            if first:  # a SELECT's first row repeats the column names
                first = False
                if cells == [name for name, _ in columns]:
                    continue
            rows.append({name: _convert(v, kind) for (name, kind), v in zip(columns, cells, strict=True)})
    return rows
