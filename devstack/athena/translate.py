"""From Athena's Trino dialect to DuckDB: the rewrites where DuckDB differs, the session, DuckDB's errors
as Trino's, and partition pruning on the WHERE conjuncts that touch only partition columns."""

from __future__ import annotations

import logging
import re

import duckdb
import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from devstack.athena.catalog import Catalog, Table
from devstack.athena.errors import QueryFailed
from devstack.athena.projection import projected_partitions

log = logging.getLogger(__name__)

_UNRESOLVED = "cannot be resolved or requester is not authorized to access requested resources"


def connect() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for all queries; each query runs on its own cursor (connection) of it."""
    con = duckdb.connect(config={"threads": 2})
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _string_key_values(conjuncts: list[exp.Expression], keys: set[str]) -> dict[str, set[str]] | None:
    """The values each string partition key may take, when every conjunct is ``key = 'v'`` or
    ``key IN ('v', ...)``; None when any conjunct is something else."""
    allowed: dict[str, set[str]] = {}
    for conjunct in conjuncts:
        node = conjunct.unnest() if isinstance(conjunct, exp.Paren) else conjunct
        if isinstance(node, exp.EQ):
            column, literals = node.this, [node.expression]
            if isinstance(literals[0], exp.Column):
                column, literals = node.expression, [node.this]
        elif isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
            column, literals = node.this, node.expressions
        else:
            return None
        if not (
            isinstance(column, exp.Column)
            and column.name.lower() in keys
            and literals
            and all(isinstance(v, exp.Literal) and v.is_string for v in literals)
        ):
            return None
        values = {v.this for v in literals}
        name = column.name.lower()
        allowed[name] = allowed[name] & values if name in allowed else values
    return allowed


def name_unnamed_columns(tree: exp.Expression) -> None:
    """Trino names unnamed result columns ``_col0``, ``_col1``, ... (0-based)."""
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return
    for i, projection in enumerate(select.expressions):
        if not isinstance(projection, exp.Alias | exp.Column | exp.Star):
            projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


def trino_semantics(tree: exp.Expression) -> exp.Expression:
    """Rewrite what DuckDB does differently from Trino (types annotated beforehand where known)."""
    for node in list(tree.find_all(exp.Div)):
        left, right = node.left, node.right
        if (
            left.type is not None
            and right.type is not None
            and left.type.is_type(*exp.DataType.INTEGER_TYPES)
            and right.type.is_type(*exp.DataType.INTEGER_TYPES)
        ):
            node.replace(exp.IntDiv(this=left.copy(), expression=right.copy()))
    for node in list(tree.find_all(exp.ApproxQuantile)):  # Trino keeps the argument's type
        kind = node.this.type
        if kind is not None and kind.is_type(*exp.DataType.INTEGER_TYPES):
            node.replace(exp.cast(node.copy(), exp.DataType.build("bigint")))
    for node in list(tree.find_all(exp.UnixToTime)):
        if node.args.get("zone") is None and node.args.get("scale") is None:
            # from_unixtime(seconds): a UTC timestamp; make_timestamp(micros) is exact and fast
            micros = exp.Mul(this=exp.Paren(this=node.this.copy()), expression=exp.Literal.number(1_000_000))
            node.replace(exp.Anonymous(this="make_timestamp", expressions=[exp.cast(micros, "bigint")]))
    for node in list(tree.find_all(exp.Length)):
        if isinstance(node.this, exp.Encode):
            # length(to_utf8(s)) is a byte count in Trino (of varbinary); DuckDB's length takes no blob
            node.replace(exp.Anonymous(this="octet_length", expressions=[node.this.copy()]))
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() == "url_decode" and len(node.expressions) == 1:
            # Trino decodes as Java's URLDecoder ('+' is a space, '%2B' a plus); DuckDB keeps '+'
            plus_as_space = exp.Anonymous(
                this="replace",
                expressions=[node.expressions[0].copy(), exp.Literal.string("+"), exp.Literal.string(" ")],
            )
            node.replace(exp.Anonymous(this="url_decode", expressions=[plus_as_space]))
    return tree


def annotate(tree: exp.Expression, schema: dict[str, dict[str, str]]) -> exp.Expression:
    """Qualify columns and annotate types from the Glue schema (for Trino's integer division)."""
    try:
        qualified = qualify(
            tree.copy(), schema=schema, dialect="athena", quote_identifiers=True, identify=False
        )
        return annotate_types(qualified, schema=schema, dialect="athena")
    except OptimizeError as error:
        match = re.search(
            r"Column '([^']+)' could not be resolved(?:\. Line: (\d+), Col: (\d+))?", str(error)
        )
        if match:
            where = f"line {match.group(2)}:{match.group(3)}" if match.group(2) else "line 1:1"
            raise QueryFailed(
                "COLUMN_NOT_FOUND",
                f"{where}: Column '{match.group(1)}' {_UNRESOLVED}",
            ) from None
        log.debug("qualify failed (%s); running without type annotations", error)
    except Exception as error:  # sqlglot's optimizer does not know every construct; DuckDB may
        log.debug("qualify failed (%s); running without type annotations", error)
    return annotate_types(tree, schema=schema, dialect="athena")


def _key_equalities(conjuncts: list[exp.Expression]) -> dict[str, set[str]]:
    """The values of the partition keys that conjuncts pin down as ``key = 'v'`` or ``key IN (...)``."""
    pinned: dict[str, set[str]] = {}
    for conjunct in conjuncts:
        node = conjunct.unnest() if isinstance(conjunct, exp.Paren) else conjunct
        if isinstance(node, exp.EQ):
            column, literals = (
                (node.expression, [node.this])
                if isinstance(node.this, exp.Literal)
                else (
                    node.this,
                    [node.expression],
                )
            )
        elif isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
            column, literals = node.this, node.expressions
        else:
            continue
        if isinstance(column, exp.Column) and all(
            isinstance(v, exp.Literal) and v.is_string for v in literals
        ):
            values = {v.this for v in literals}
            name = column.name.lower()
            pinned[name] = pinned[name] & values if name in pinned else values
    return pinned


def _partition_conjuncts(table: Table, node: exp.Table) -> list[exp.Expression]:
    """The WHERE conjuncts of the table reference's SELECT that touch only its partition columns."""
    select = node.find_ancestor(exp.Select)
    where = select.args.get("where") if select else None
    if not where:
        return []
    names = {k for k, _ in table.partition_keys}
    alias = (node.alias or node.name).lower()
    usable = []
    for conjunct in _conjuncts(where.this):
        columns = list(conjunct.find_all(exp.Column))
        if (
            columns
            and not conjunct.find(exp.Subquery, exp.Select)
            and all(c.name.lower() in names and (not c.table or c.table.lower() == alias) for c in columns)
        ):
            usable.append(conjunct)
    return usable


def prune_partitions(
    catalog: Catalog, con: duckdb.DuckDBPyConnection, table: Table, node: exp.Table
) -> list[tuple[list[str], str]]:
    """The partitions of one table reference that survive its WHERE conjuncts on partition columns."""
    keys = table.partition_keys
    if not keys:
        return [([], table.location)]
    usable = _partition_conjuncts(table, node)
    if table.parameters.get("projection.enabled", "").lower() == "true":
        partitions = projected_partitions(table, injected=_key_equalities(usable))
    else:
        partitions = catalog.partitions(table)
    if not usable or not partitions:
        return partitions
    wanted = _string_key_values(usable, {k for k, t in keys if t in ("string", "varchar")})
    if wanted is not None:  # `key = 'v'` / `key IN ('v', ...)` on string keys: no engine needed
        position = {k: i for i, (k, _) in enumerate(keys)}
        return [
            (values, location)
            for values, location in partitions
            if all(values[position[k]] in allowed for k, allowed in wanted.items())
        ]
    predicate = exp.and_(*[c.copy() for c in usable])
    for column in predicate.find_all(exp.Column):
        column.set("table", None)
        column.set("db", None)
    predicate = annotate_types(predicate, schema={"__p": dict(keys)}, dialect="athena")
    data = pa.table(
        {"__i": pa.array(range(len(partitions)), pa.int64())}
        | {k: pa.array([v[i] for v, _ in partitions], pa.string()) for i, (k, _) in enumerate(keys)}
    )
    casts = ", ".join(
        f'CAST("{k}" AS {exp.DataType.build(t, dialect="hive").sql("duckdb")}) AS "{k}"' for k, t in keys
    )
    try:
        con.register("__partitions", data)
        where_sql = trino_semantics(predicate).sql(dialect="duckdb")
        rows = con.sql(
            f"SELECT __i FROM (SELECT __i, {casts} FROM __partitions) WHERE {where_sql}"  # noqa: S608
        ).fetchall()
    except duckdb.Error as error:
        log.debug("partition filter not evaluable (%s); reading all partitions", error)
        return partitions
    finally:
        con.unregister("__partitions")
    return [partitions[i] for (i,) in rows]


def engine_error(error: duckdb.Error) -> QueryFailed:
    """DuckDB's error as the Trino error Athena would report."""
    text = str(error).split("\n")[0]
    text = re.sub(r"__src\d+", "table", text)
    column = re.search(r'Referenced column "([^"]+)" not found', text)
    if column:
        return QueryFailed(
            "COLUMN_NOT_FOUND",
            f"line 1:1: Column '{column.group(1)}' {_UNRESOLVED}",
        )
    if isinstance(error, duckdb.ParserException):
        return QueryFailed("SYNTAX_ERROR", f"line 1:1: {text}")
    if isinstance(error, duckdb.BinderException):
        code = "FUNCTION_NOT_FOUND" if "function" in text.lower() else "SEMANTIC_ERROR"
        return QueryFailed(code, f"line 1:1: {text}")
    if isinstance(error, duckdb.ConversionException | duckdb.InvalidInputException):
        return QueryFailed("INVALID_CAST_ARGUMENT", text)
    if isinstance(error, duckdb.OutOfRangeException):
        return QueryFailed("NUMERIC_VALUE_OUT_OF_RANGE", text)
    if isinstance(error, duckdb.InterruptException):
        return QueryFailed("USER_CANCELLED", "Query was cancelled by user")
    return QueryFailed("GENERIC_INTERNAL_ERROR", text)
