"""Every .sql file of include/sql/ (all domains) is valid Athena SQL once its template is filled in."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2
import pytest
import sqlglot

from datalake.config import SQL_DIR, get_config
from datalake.reports.history import table_params
from datalake.reports.queries import inventory_values
from datalake.strava import tasks as strava_tasks

SQL_FILES = sorted(SQL_DIR.rglob("*.sql"))
OPAQUE_ATHENA_STATEMENTS = {"MSCK REPAIR"}

# What Airflow's context would give the templates: values of the right shape, not real ones (the inventory
# summaries' own values, the billing rules and savings settings of the shipped configuration among them).
_CONFIG = get_config()
SAMPLE = inventory_values(
    _CONFIG, _CONFIG.inventories[0], "2026-11-20-01-00", "2026-11-19-01-00", tiers=True
) | {
    "database": "sample_db",
    "table": "sample_table",
    "dt": "2026-11-20-01-00",
    "previous_dt": "2026-11-19-01-00",
    "day": "2026-11-20",
    "day_after": "2026-11-21",
    "weeks_from": "2026-09-07",
    "year_start": "2026-01-01",
    "last_year_start": "2025-01-01",
    "last_year_day": "2025-11-20",
    "last_year_day_after": "2025-11-21",
    "longest_from": "2025-11-21",
    "location": "s3://sample-bucket/sample/prefix/",
    "ds": "2026-11-20",
    "data_interval_start": datetime(2026, 11, 20),
    "data_interval_end": datetime(2026, 11, 21),
    # the Strava DAG's macro; one day: sqlglot reads Hive's PARTITION clauses only comma-separated, which
    # Athena refuses (tests/strava run a whole window's statement on the stack's Athena)
    "strava_window_days": lambda _end: ["2026-11-20"],
    "strava_detail_columns": lambda _table: strava_tasks.detail_columns("activity_laps"),
    "drop": {"columns": [["bucket", "string"], ["key", "string"], ["size", "bigint"]]},
    "params": {
        "database": "sample_db",
        "table": "sample_table",
        "location": "s3://sample-bucket/sample/prefix/",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "serde_properties": {"separatorChar": ","},
        "validate_task": "validate_drop",
        "partition_projection": True,  # renders the optional TBLPROPERTIES of create_table.sql too
        "projection_start": "2026-01-01-00-00",
        "columns": table_params(_CONFIG)["columns"],
    },
}


class _Sample(jinja2.Undefined):
    """Anything the sample context lacks renders as a plain identifier (and never as '')."""

    def __str__(self) -> str:
        return "sample_value"

    def __getattr__(self, name: str) -> _Sample:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> _Sample:
        return self


def render(path: Path, **values: object) -> str:
    env = jinja2.Environment(  # noqa: S701 - SQL, not HTML
        loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=_Sample
    )
    env.filters["ds"] = lambda value: value.strftime("%Y-%m-%d")
    return env.get_template(path.relative_to(SQL_DIR).as_posix()).render(**(SAMPLE | values))


def test_there_are_sql_files_in_every_domain():
    domains = {p.relative_to(SQL_DIR).parts[0] for p in SQL_FILES}
    assert {"summaries", "inventory", "strava"} <= domains


@pytest.mark.parametrize("tiers", ["yes", ""])
@pytest.mark.parametrize("report_format", ["Parquet", "CSV", "ORC"])
@pytest.mark.parametrize("path", SQL_FILES, ids=[p.relative_to(SQL_DIR).as_posix() for p in SQL_FILES])
def test_sql_file_parses_in_athena_dialect(path: Path, report_format: str, tiers: str):
    # the inventory summaries differ per report format, and with the Intelligent-Tiering tier column
    sql = render(path, format=report_format, tiers=tiers)
    statements = [s for s in sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE) if s]
    assert len(statements) == 1, f"{path}: expected one statement, got {len(statements)}"
    statement = statements[0]
    if isinstance(statement, sqlglot.exp.Command):
        # Athena statements sqlglot does not model keep their text; only those are acceptable.
        assert statement.name.upper() in OPAQUE_ATHENA_STATEMENTS, (
            f"{path}: sqlglot did not understand the statement ({statement.name!r})"
        )
