"""Query results as Athena gives them: Trino's type names and value texts, the result files, and the
pages of GetQueryResults."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class Result:
    columns: list[dict[str, Any]]
    rows: list[list[str | None]]
    header: bool  # SELECT results carry a header row; DDL results do not


def _athena_type(arrow_type: pa.DataType) -> tuple[str, int, int]:
    checks: list[tuple[Callable[[pa.DataType], bool], str, int]] = [
        (pa.types.is_boolean, "boolean", 0),
        (pa.types.is_int8, "tinyint", 3),
        (pa.types.is_int16, "smallint", 5),
        (pa.types.is_int32, "integer", 10),
        (pa.types.is_int64, "bigint", 19),
        (pa.types.is_integer, "bigint", 19),
        (pa.types.is_float32, "real", 17),
        (pa.types.is_floating, "double", 17),
        (pa.types.is_string, "varchar", 2147483647),
        (pa.types.is_large_string, "varchar", 2147483647),
        (pa.types.is_date, "date", 0),
        (pa.types.is_list, "array", 0),
        (pa.types.is_struct, "row", 0),
        (pa.types.is_map, "map", 0),
        (pa.types.is_binary, "varbinary", 2147483647),
        (pa.types.is_time, "time", 3),
        (pa.types.is_interval, "interval day to second", 0),
        (pa.types.is_duration, "interval day to second", 0),
    ]
    if pa.types.is_decimal(arrow_type):
        return "decimal", arrow_type.precision, arrow_type.scale
    if pa.types.is_timestamp(arrow_type):
        return ("timestamp with time zone" if arrow_type.tz else "timestamp"), 3, 0
    for check, name, precision in checks:
        if check(arrow_type):
            return name, precision, 0
    return "varchar", 2147483647, 0


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    mantissa, exponent = f"{value:.17e}".split("e")
    mantissa = repr(float(f"{float(mantissa):.16g}"))
    shortest = repr(value)
    if "e" in shortest:
        mantissa = shortest.split("e")[0]
        mantissa = mantissa if "." in mantissa else mantissa + ".0"
    return f"{mantissa}E{int(exponent)}"


def _text(value: Any) -> str | None:
    """A value as Athena prints it (GetQueryResults and the CSV file)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return text + " UTC" if value.tzinfo is not None else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, list):
        if value and isinstance(value[0], tuple):  # map entries
            return "{" + ", ".join(f"{_text(k)}={_text(v)}" for k, v in value) + "}"
        return "[" + ", ".join(str(_text(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def to_result(table: pa.Table) -> Result:
    columns, texts = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_decimal(column.type) and column.type.scale == 0 and column.type.precision == 38:
            with contextlib.suppress(pa.ArrowInvalid):  # DuckDB widens sum(bigint) to HUGEINT
                column = pc.cast(column, pa.int64())
        type_name, precision, scale = _athena_type(column.type)
        columns.append(
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": type_name,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": type_name == "varchar",
            }
        )
        texts.append([_text(v) for v in column.to_pylist()])
    rows = [list(r) for r in zip(*texts, strict=True)] if texts else []
    return Result(columns, rows, header=True)


def ddl_result(column: str, lines: list[str]) -> Result:
    info = {
        "Name": column,
        "Label": column,
        "Type": "string",
        "Nullable": "UNKNOWN",
        "Precision": 0,
        "Scale": 0,
    }
    return Result(
        [info | {"CaseSensitive": False}] if column else [], [[line] for line in lines], header=False
    )


def result_files(result: Result, statement_type: str) -> dict[str, bytes]:
    """The files of a result by suffix: ``.csv`` and ``.csv.metadata`` for SELECT, ``.txt`` for DDL."""
    if statement_type == "DML":
        buffer = io.StringIO()
        lines = [[c["Name"] for c in result.columns], *result.rows]
        for row in lines:
            buffer.write(",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n")
        metadata = json.dumps({"ColumnInfo": result.columns}).encode()
        return {".csv": buffer.getvalue().encode(), ".csv.metadata": metadata}
    text = "".join(row[0] + "\n" for row in result.rows)
    return {".txt": text.encode()}


def page(result: Result, start: int, size: int) -> dict[str, Any]:
    """One GetQueryResults answer: ``size`` rows from row ``start`` (a SELECT's header row counts)."""
    header = [[c["Name"] for c in result.columns]] if result.header else []
    total = len(header) + len(result.rows)
    rows = []
    for i in range(start, min(start + size, total)):
        values = header[i] if i < len(header) else result.rows[i - len(header)]
        rows.append({"Data": [{} if v is None else {"VarCharValue": v} for v in values]})
    answer: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": result.columns}},
    }
    if start + size < total:
        answer["NextToken"] = str(start + size)
    return answer
