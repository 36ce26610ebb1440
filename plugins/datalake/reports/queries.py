"""Which summary queries run, with which values, and how their results are read back.

The SQL lives in ``include/sql/summaries/*.sql`` (Athena's Trino dialect; the inventory summaries share the
expressions of ``inventory_macros.jinja``, the Strava summaries those of ``strava_macros.jinja``). Each file
is a Jinja template over plain values: for an inventory, the partition ``dt`` of its drop (and
``previous_dt``), its report ``format``, whether the report has the Intelligent-Tiering tier column
(``tiers``), the price table's billing rules, the savings settings and the days of the trend; for Strava, the
report ``day`` and the windows derived from it. :func:`inventory_values` and :func:`strava_values` compute
them from the configuration and the checked partition values, so every value is checked before it reaches a
SQL literal (``format`` and ``tiers`` only choose between spellings, in the template).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    SummaryQuery("inventory_costs", "Storage cost"),
    SummaryQuery("inventory_savings_standard", "Savings: old objects in STANDARD"),
    SummaryQuery("inventory_savings_noncurrent", "Savings: expiring non-current versions"),
    SummaryQuery("inventory_savings_delete_markers", "Savings: delete markers with no versions behind them"),
    SummaryQuery("inventory_savings_folders", "Savings: zero-byte folder objects"),
    SummaryQuery("inventory_age_histogram", "Age of the objects"),
    SummaryQuery("inventory_trend", "The days before (daily storage summary)"),
)
STRAVA_QUERIES: tuple[SummaryQuery, ...] = (
    SummaryQuery("strava_weekly", "Weekly training volume"),
    SummaryQuery("strava_year_to_date", "Year to date"),
    SummaryQuery("strava_longest", "Longest activities"),
)

# what strava.details adds (the detail tables): distance per gear, calories per week
STRAVA_DETAIL_QUERIES: tuple[SummaryQuery, ...] = (
    SummaryQuery("strava_gear_distance", "Distance per gear"),
    SummaryQuery("strava_calories_weekly", "Calories per week"),
)

QUERIES = {query.name: query for query in (*INVENTORY_QUERIES, *STRAVA_QUERIES, *STRAVA_DETAIL_QUERIES)}


def strava_queries(config: DatalakeConfig) -> tuple[SummaryQuery, ...]:
    """The Strava summaries the configuration has tables for: with ``strava.details``, the detail ones."""
    return (*STRAVA_QUERIES, *(STRAVA_DETAIL_QUERIES if config.strava.details else ()))


WEEKS_SHOWN = 12  # weekly volume: this ISO week and the eleven before it

# The age histogram's buckets: (upper edge in days, label, short label); the last bucket has no edge.
AGE_BUCKETS: tuple[tuple[int | None, str, str], ...] = (
    (30, "under 30 days", "<30 d"),
    (90, "30 to 89 days", "30-89 d"),
    (180, "90 to 179 days", "90-179 d"),
    (365, "180 to 364 days", "180-364 d"),
    (730, "1 to 2 years", "1-2 y"),
    (1825, "2 to 5 years", "2-5 y"),
    (None, "5 years and more", "5+ y"),
)
TIERS_COLUMN = "intelligent_tiering_access_tier"
_KB = 1024
_DAY_MS = 86_400_000


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


def billing_rules(config: DatalakeConfig) -> dict[str, dict[str, int]]:
    """The price table's billing rules as the SQL applies them: rule -> storage class -> bytes or days,
    the classes without the rule left out."""
    rules: dict[str, dict[str, int]] = {
        "min_bytes": {},
        "min_days": {},
        "overhead_bytes": {},
        "overhead_standard_bytes": {},
        "monitoring_min_bytes": {},
    }
    for storage_class, rule in sorted(config.prices.rules.items()):
        values = {
            "min_bytes": round(rule.min_billable_kb * _KB),
            "min_days": rule.min_days,
            "overhead_bytes": round(rule.overhead_kb * _KB),
            "overhead_standard_bytes": round(rule.overhead_standard_kb * _KB),
            "monitoring_min_bytes": round(rule.monitoring_min_kb * _KB),
        }
        for name, value in values.items():
            if value:
                rules[name][storage_class] = value
    return rules


def snapshot_ms(dt: str) -> int:
    """The time of a drop (its ``dt``, YYYY-MM-DD-HH-MM, UTC) in epoch milliseconds: ages are taken there."""
    moment = datetime.strptime(check_dt(dt), "%Y-%m-%d-%H-%M").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1000


def inventory_values(
    config: DatalakeConfig,
    inventory: InventoryConfig,
    dt: str,
    previous_dt: str | None,
    *,
    day: str | None = None,
    tiers: bool = False,
) -> dict[str, Any]:
    """Template values of the inventory summaries of the report ``day`` (default: the drop's day).

    The drop's partition and the one before it; the report format (CSV reports URL-encode the object
    keys, the SQL decodes them for CSV only); ``tiers``: the report has the Intelligent-Tiering access
    tier column; the billing rules and savings settings of the configuration; the summary table and the
    days of the trend (the ``reports.trend_days`` up to the day before ``day``).
    """
    where = f"inventory {inventory.name!r}"
    dt = check_dt(dt)
    report_day = check_day(day or dt[:10])
    savings = config.reports.savings
    return {
        "database": _identifier(inventory.database, f"{where}: database"),
        "table": _identifier(inventory.table, f"{where}: table"),
        "dt": dt,
        "previous_dt": check_dt(previous_dt, "previous partition dt") if previous_dt else "",
        "format": inventory.format,
        "tiers": "yes" if tiers else "",
        "snapshot_ms": snapshot_ms(dt),
        # non-current since this time or earlier: non-current for savings.noncurrent_age_days or more
        "noncurrent_before_ms": snapshot_ms(dt) - savings.noncurrent_age_days * _DAY_MS,
        "rules": billing_rules(config),
        "savings": {
            "standard_age_days": savings.standard_age_days,
            "min_bytes": round(savings.min_object_kb * _KB),
            "noncurrent_age_days": savings.noncurrent_age_days,
            "top_prefixes": savings.top_prefixes,
        },
        "age_edges": [edge for edge, _, _ in AGE_BUCKETS if edge is not None],
        "inventory": _identifier(inventory.name, f"{where}: name"),
        "summary_database": _identifier(config.reports.summary_database, "reports.summary_database"),
        "summary_table": _identifier(config.reports.summary_table, "reports.summary_table"),
        "day": report_day.isoformat(),
        "trend_from": (report_day - timedelta(days=config.reports.trend_days - 1)).isoformat(),
        "trend_to": (report_day - timedelta(days=1)).isoformat(),
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
