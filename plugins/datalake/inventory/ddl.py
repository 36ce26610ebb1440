"""The inventory table's shape: serdes per report format, the DDL templates, and table evolution.

The DDL itself lives in ``include/sql/inventory/*.sql``; Airflow's AthenaOperator renders those
files with :func:`table_params` as ``params`` and the checked drop (its columns) from XCom.
:func:`render` renders the same files outside Airflow (maintenance, benchmarks, tests).
"""

from __future__ import annotations

from typing import Any

import jinja2

from datalake.config import SQL_DIR, InventoryConfig

SQL_SUBDIR = "inventory"
VALIDATE_TASK = "validate_drop"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat"

SERDES: dict[str, tuple[str, dict[str, str]]] = {
    "Parquet": ("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", {}),
    "CSV": ("org.apache.hadoop.hive.serde2.OpenCSVSerde", {"separatorChar": ",", "quoteChar": '"'}),
    "ORC": ("org.apache.hadoop.hive.ql.io.orc.OrcSerde", {}),
}


def table_params(inv: InventoryConfig) -> dict[str, Any]:
    """``params`` of the DDL templates for one configuration."""
    serde, properties = SERDES[inv.format]
    return {
        "database": inv.database,
        "table": inv.table,
        "location": inv.hive_location,
        "serde": serde,
        "serde_properties": properties,
        "partition_projection": inv.partition_projection,
        "projection_start": f"{inv.start_date}-00-00",
        "validate_task": VALIDATE_TASK,
    }


def render(name: str, inv: InventoryConfig, **variables: Any) -> str:
    """Render ``include/sql/inventory/<name>`` as Airflow would, with ``params`` and ``variables``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - SQL, not HTML
        keep_trailing_newline=False,
    )
    return env.get_template(f"{SQL_SUBDIR}/{name}").render(params=table_params(inv), **variables).strip()


def storage_descriptor(inv: InventoryConfig, columns: list[tuple[str, str]], location: str) -> dict[str, Any]:
    """A Glue StorageDescriptor reading ``location`` through its symlink file, in the report's format."""
    serde, properties = SERDES[inv.format]
    return {
        "Columns": [{"Name": n, "Type": t} for n, t in columns],
        "Location": location,
        "InputFormat": INPUT_FORMAT,
        "OutputFormat": OUTPUT_FORMAT,
        "SerdeInfo": {"SerializationLibrary": serde, "Parameters": dict(properties)},
    }


def get_table(glue: Any, inv: InventoryConfig) -> dict[str, Any] | None:
    """The Glue table of ``inv``, or None when it (or its database) does not exist yet."""
    try:
        return glue.get_table(DatabaseName=inv.database, Name=inv.table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def table_columns(table: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    if table is None:
        return None
    return [(c["Name"], c["Type"]) for c in table.get("StorageDescriptor", {}).get("Columns", [])]


_TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "TableType",
    "Parameters",
)


def add_columns(glue: Any, inv: InventoryConfig, new_columns: list[tuple[str, str]]) -> list[str]:
    """Append the columns a configuration gained to the table (existing partitions keep their own
    column lists, which describe their own files). Returns the names added; adding is idempotent."""
    table = get_table(glue, inv)
    if table is None:
        raise LookupError(f"table {inv.database}.{inv.table} does not exist")
    present = {n for n, _ in table_columns(table) or []}
    missing = [(n, t) for n, t in new_columns if n not in present]
    if not missing:
        return []
    table_input = {k: table[k] for k in _TABLE_INPUT_KEYS if k in table}
    sd = dict(table_input["StorageDescriptor"])
    sd["Columns"] = [*sd.get("Columns", []), *({"Name": n, "Type": t} for n, t in missing)]
    table_input["StorageDescriptor"] = sd
    glue.update_table(DatabaseName=inv.database, TableInput=table_input)
    return [n for n, _ in missing]
