"""Athena for the embedded stack: runs the project's SQL for real, against the stack's Glue and S3.

:class:`LocalAthena` serves Athena's query API (StartQueryExecution, GetQueryExecution,
GetQueryResults, BatchGetQueryExecution, StopQueryExecution, ListQueryExecutions) behind
:mod:`devstack.aws`; work groups, data catalogs and named queries stay with moto. Queries run
asynchronously on a small worker pool, so callers poll exactly as they do against AWS.

- DDL (CREATE DATABASE / EXTERNAL TABLE, ALTER TABLE ADD / DROP PARTITION, MSCK REPAIR TABLE, DROP,
  SHOW, DESCRIBE) is applied to the stack's Glue, leaving tables and partitions as Athena leaves them.
- SELECT is transpiled from Athena's Trino dialect to DuckDB with sqlglot. Every table the query names is
  read from S3 (Parquet, ORC, JSON lines, CSV, and SymlinkTextInputFormat manifests) into Arrow, after
  partition pruning on the WHERE conjuncts that touch only partition columns, and with only the columns the
  query uses; DuckDB scans the Arrow data in place. When moto runs in this process (``in_process``, as
  :class:`devstack.aws.LocalAws` sets it up), objects, catalog entries and work groups are read from
  moto's backends directly and Parquet bytes are handed to Arrow without a copy; otherwise boto3 reads
  them over HTTP, Parquet with ranged GETs. ``DataScannedInBytes`` is the bytes the query needs: for
  Parquet, the footer and the projected column chunks; for other formats, whole files.
- Trino semantics the project relies on: integer ``/`` truncates, ``from_unixtime`` takes seconds and
  gives a UTC timestamp, ``url_decode`` decodes ``+`` to a space (Java's URLDecoder, as S3 Inventory's
  CSV keys need), the session time zone is UTC, unnamed columns are ``_col0, _col1, ...``.
- Results go to ``<OutputLocation>/<QueryExecutionId>.csv`` (+ ``.csv.metadata``, JSON column info here)
  for SELECT and ``.txt`` for DDL; failures end in FAILED with a Trino-style ``StateChangeReason``.

It is development tooling: one process, everything in memory, no security model.
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import datetime as dt
import gzip
import io
import json
import logging
import math
import mmap
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import sqlglot
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from devstack.credentials import ACCOUNT_ID, client

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
CATALOG = "AwsDataCatalog"
WORKERS = 2  # queries run at once
FILE_READERS = 4  # files one query reads at once
MAX_RESULTS = 1000
_UNRESOLVED = "cannot be resolved or requester is not authorized to access requested resources"

# Hive storage formats, as Athena writes them into Glue.
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_ORC_SERDE = "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
_OPENCSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
_LAZY_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
_JSON_SERDES = ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe")
_SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
_TEXT_FORMATS = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
_STORED_AS = {
    "PARQUET": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        _PARQUET_SERDE,
    ),
    "ORC": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
        _ORC_SERDE,
    ),
    "TEXTFILE": (*_TEXT_FORMATS, _LAZY_SERDE),
}


class QueryFailed(Exception):
    """A query that ends in FAILED; ``str()`` is its StateChangeReason (``ERROR_CODE: message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class _BadRequest(Exception):
    """An API call Athena rejects with HTTP 400."""


def _where(sql: str, offset: int | None) -> str:
    """Trino's ``line L:C`` for a character offset of the statement."""
    if offset is None:
        return "line 1:1"
    before = sql[:offset]
    return f"line {before.count(chr(10)) + 1}:{offset - (before.rfind(chr(10)) + 1) + 1}"


def _split_s3(uri: str) -> tuple[str, str]:
    match = re.match(r"s3a?n?://([^/]+)/?(.*)$", uri.strip())
    if not match:
        raise QueryFailed("HIVE_METASTORE_ERROR", f"Invalid S3 location: {uri!r}")
    return match.group(1), match.group(2)


def _as_prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


# --------------------------------------------------------------------------------------------------
# Catalog access (Glue)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Table:
    database: str
    name: str
    glue: dict[str, Any]

    @property
    def sd(self) -> dict[str, Any]:
        return self.glue.get("StorageDescriptor", {})

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(c["Name"].lower(), c["Type"].lower()) for c in self.sd.get("Columns", [])]

    @property
    def partition_keys(self) -> list[tuple[str, str]]:
        return [(c["Name"].lower(), c["Type"].lower()) for c in self.glue.get("PartitionKeys", [])]

    @property
    def parameters(self) -> dict[str, str]:
        return self.glue.get("Parameters", {}) or {}

    @property
    def location(self) -> str:
        return self.sd.get("Location", "")


class _Catalog:
    """Glue as the engine reads it; reads go straight to moto's backend when it is in this process.

    DDL always writes through the Glue API, so what it leaves is exactly what Glue's API makes of it.
    """

    def __init__(self, glue: Any, backend: Any = None) -> None:
        self.glue = glue
        self.backend = backend

    def has_database(self, name: str) -> bool:
        if self.backend is not None:
            return name in self.backend.databases
        try:
            self.glue.get_database(Name=name)
        except self.glue.exceptions.EntityNotFoundException:
            return False
        return True

    def table(self, database: str, name: str, where: str = "line 1:1") -> _Table:
        if not self.has_database(database):
            raise QueryFailed("SCHEMA_NOT_FOUND", f"{where}: Schema '{database}' does not exist")
        if self.backend is not None:
            found = self.backend.databases[database].tables.get(name)
            if found is None:
                raise QueryFailed(
                    "TABLE_NOT_FOUND", f"{where}: Table '{CATALOG.lower()}.{database}.{name}' does not exist"
                )
            return _Table(database, name, copy.deepcopy(found.as_dict()))
        try:
            glue_table = self.glue.get_table(DatabaseName=database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            raise QueryFailed(
                "TABLE_NOT_FOUND", f"{where}: Table '{CATALOG.lower()}.{database}.{name}' does not exist"
            ) from None
        return _Table(database, name, glue_table)

    def tables(self, database: str) -> list[str]:
        names = []
        for page in self.glue.get_paginator("get_tables").paginate(DatabaseName=database):
            names += [t["Name"] for t in page["TableList"]]
        return sorted(names)

    def partitions(self, table: _Table) -> list[tuple[list[str], str]]:
        if self.backend is not None:
            database = self.backend.databases.get(table.database)
            found = database.tables.get(table.name) if database is not None else None
            partitions = list(found.partitions.values()) if found is not None else []
            return sorted(
                (
                    list(p.values),
                    (p.partition_input.get("StorageDescriptor") or {}).get("Location", ""),
                )
                for p in partitions
            )
        out = []
        for page in self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=table.database, TableName=table.name
        ):
            out += [
                (p["Values"], p.get("StorageDescriptor", {}).get("Location", "")) for p in page["Partitions"]
            ]
        return sorted(out)


# --------------------------------------------------------------------------------------------------
# DDL: parsing and application to Glue
# --------------------------------------------------------------------------------------------------


@dataclass
class _Token:
    text: str
    start: int
    quoted: bool = False


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|[A-Za-z_][\w$]*|\d+(?:\.\d+)?|\S")


class _Tokens:
    """A cursor over the words of the DDL statements sqlglot leaves as opaque commands."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = []
        for match in _TOKEN.finditer(sql):
            text = match.group(0)
            if text == ";":
                continue
            if text[0] == "'":
                self.tokens.append(_Token(text[1:-1].replace("''", "'"), match.start(), quoted=True))
            elif text[0] in '"`':
                self.tokens.append(_Token(text[1:-1], match.start(), quoted=True))
            else:
                self.tokens.append(_Token(text, match.start()))
        self.i = 0

    def peek(self, *words: str) -> bool:
        texts = [t.text.upper() for t in self.tokens[self.i : self.i + len(words)] if not t.quoted]
        return texts == [w.upper() for w in words]

    def accept(self, *words: str) -> bool:
        if self.peek(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            self.fail(f"expecting: {' '.join(words)}")

    def fail(self, message: str) -> None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        got = f"mismatched input '{token.text}'" if token else "mismatched input '<EOF>'"
        raise QueryFailed(
            "SYNTAX_ERROR", f"{_where(self.sql, token.start if token else len(self.sql))}: {got}. {message}"
        )

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def next_text(self) -> str:
        if self.done():
            self.fail("unexpected end of statement")
        token = self.tokens[self.i]
        self.i += 1
        return token.text

    def name(self) -> list[str]:
        """A possibly dotted name, lower-cased like Athena does."""
        parts = [self.next_text()]
        while self.accept("."):
            parts.append(self.next_text())
        return [p.lower() for p in parts]

    def spec(self) -> dict[str, str]:
        """``(k = 'v', k2 = 2)``: a partition spec."""
        self.expect("(")
        values = {}
        while True:
            key = self.next_text().lower()
            self.expect("=")
            values[key] = self.next_text()
            if not self.accept(","):
                break
        self.expect(")")
        return values


def _hive_type(kind: exp.DataType) -> str:
    return re.sub(r"\s+", "", kind.sql(dialect="hive")).lower()


def _literal(node: exp.Expression | None) -> str:
    return node.name if isinstance(node, exp.Literal) else (node.sql(dialect="hive") if node else "")


class _Ddl:
    """Applies one DDL statement to Glue; returns the statement's result lines (column name, lines)."""

    def __init__(self, catalog: _Catalog, s3: Any, database: str) -> None:
        self.catalog = catalog
        self.glue = catalog.glue
        self.s3 = s3
        self.database = database

    def run(self, sql: str, tree: exp.Expression | None) -> tuple[str, list[str]]:
        if isinstance(tree, exp.Create) and tree.args.get("kind", "").upper() == "TABLE":
            return self.create_table(sql, tree)
        tokens = _Tokens(sql)
        if tokens.accept("CREATE"):
            if not (tokens.accept("DATABASE") or tokens.accept("SCHEMA")):
                tokens.fail("expecting: DATABASE, EXTERNAL TABLE")
            return self.create_database(tokens)
        if tokens.accept("DROP"):
            return self.drop(tokens)
        if tokens.accept("ALTER", "TABLE"):
            return self.alter_table(tokens)
        if tokens.accept("MSCK", "REPAIR", "TABLE"):
            return self.msck_repair(self._table(tokens.name()))
        if tokens.accept("SHOW"):
            return self.show(tokens)
        if tokens.accept("DESCRIBE") or tokens.accept("DESC"):
            tokens.accept("FORMATTED") or tokens.accept("EXTENDED")
            table = self._table(tokens.name())
            return "col_name", [f"{n:<20}\t{t:<20}\t" for n, t in table.columns + table.partition_keys]
        tokens.fail("expecting: SELECT, WITH, CREATE, ALTER, DROP, MSCK, SHOW, DESCRIBE")
        raise AssertionError  # unreachable: fail() raises

    def _split(self, name: list[str]) -> tuple[str, str]:
        return (name[-2], name[-1]) if len(name) > 1 else (self.database, name[0])

    def _table(self, name: list[str]) -> _Table:
        return self.catalog.table(*self._split(name))

    # CREATE -----------------------------------------------------------------------------------------
    def create_database(self, tokens: _Tokens) -> tuple[str, list[str]]:
        exists_ok = tokens.accept("IF", "NOT", "EXISTS")
        name = tokens.name()[-1]
        database_input: dict[str, Any] = {"Name": name}
        while not tokens.done():
            if tokens.accept("COMMENT"):
                database_input["Description"] = tokens.next_text()
            elif tokens.accept("LOCATION"):
                database_input["LocationUri"] = tokens.next_text()
            elif tokens.accept("WITH", "DBPROPERTIES"):
                database_input["Parameters"] = tokens.spec()
            else:
                tokens.fail("expecting: COMMENT, LOCATION, WITH DBPROPERTIES")
        try:  # Glue decides, not a look beforehand: two runs may create the same database at once
            self.glue.create_database(DatabaseInput=database_input)
        except self.glue.exceptions.AlreadyExistsException:
            if not exists_ok:
                raise QueryFailed("HIVE_METASTORE_ERROR", f"Database {name} already exists") from None
        return "", []

    def create_table(self, sql: str, tree: exp.Create) -> tuple[str, list[str]]:
        schema = tree.this
        table_node = schema.this if isinstance(schema, exp.Schema) else schema
        database = (table_node.db or self.database).lower()
        name = table_node.name.lower()
        props = tree.args.get("properties")
        prop_list = props.expressions if props else []
        if tree.expression is not None:
            raise QueryFailed("NOT_SUPPORTED", "CREATE TABLE AS is not supported by the local Athena")
        if not any(isinstance(p, exp.ExternalProperty) for p in prop_list):
            raise QueryFailed(
                "NOT_SUPPORTED", "Only external table creation is supported (CREATE EXTERNAL TABLE ...)"
            )
        columns = [
            {"Name": c.name.lower(), "Type": _hive_type(c.args["kind"])}
            | (
                {"Comment": _literal(c.find(exp.CommentColumnConstraint).this)}
                if c.find(exp.CommentColumnConstraint)
                else {}
            )
            for c in schema.expressions
            if isinstance(c, exp.ColumnDef)
        ]
        input_format, output_format, serde = _STORED_AS["TEXTFILE"]
        serde_explicit = False
        serde_params: dict[str, str] = {}
        location = ""
        partition_keys: list[dict[str, str]] = []
        parameters: dict[str, str] = {"EXTERNAL": "TRUE"}
        for prop in prop_list:
            if isinstance(prop, exp.PartitionedByProperty):
                partition_keys = [
                    {"Name": c.name.lower(), "Type": _hive_type(c.args["kind"])}
                    for c in prop.this.expressions
                    if isinstance(c, exp.ColumnDef)
                ]
            elif isinstance(prop, exp.RowFormatSerdeProperty):
                serde, serde_explicit = _literal(prop.this), True
                if prop.args.get("serde_properties"):
                    serde_params |= {
                        _literal(p.this): _literal(p.args.get("value"))
                        for p in prop.args["serde_properties"].expressions
                    }
            elif isinstance(prop, exp.SerdeProperties):
                serde_params |= {_literal(p.this): _literal(p.args.get("value")) for p in prop.expressions}
            elif isinstance(prop, exp.RowFormatDelimitedProperty):
                for arg, key in (
                    ("fields", "field.delim"),
                    ("lines", "line.delim"),
                    ("escaped", "escape.delim"),
                ):
                    if prop.args.get(arg):
                        serde_params[key] = _literal(prop.args[arg])
            elif isinstance(prop, exp.FileFormatProperty):
                fmt = prop.this
                if isinstance(fmt, exp.InputOutputFormat):
                    input_format = _literal(fmt.args.get("input_format"))
                    output_format = _literal(fmt.args.get("output_format"))
                else:
                    stored = fmt.name.upper()
                    if stored not in _STORED_AS:
                        raise QueryFailed("NOT_SUPPORTED", f"STORED AS {stored} is not supported locally")
                    input_format, output_format, default_serde = _STORED_AS[stored]
                    if not serde_explicit:
                        serde = default_serde
            elif isinstance(prop, exp.LocationProperty):
                location = _literal(prop.this)
            elif isinstance(prop, exp.SchemaCommentProperty):
                parameters["comment"] = _literal(prop.this)
            elif type(prop) is exp.Property:
                parameters[_literal(prop.this)] = _literal(prop.args.get("value"))
        if not location:
            raise QueryFailed("SYNTAX_ERROR", f"{_where(sql, None)}: CREATE EXTERNAL TABLE needs a LOCATION")
        _split_s3(location)
        serde_params.setdefault("serialization.format", serde_params.get("field.delim", "1"))
        if not self.catalog.has_database(database):
            raise QueryFailed("SCHEMA_NOT_FOUND", f"{_where(sql, None)}: Schema '{database}' does not exist")
        table_input = {
            "Name": name,
            "Owner": "hadoop",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters | {"transient_lastDdlTime": str(int(time.time()))},
            "PartitionKeys": partition_keys,
            "Retention": 0,
            "StorageDescriptor": {
                "Columns": columns,
                "Location": location,
                "InputFormat": input_format,
                "OutputFormat": output_format,
                "Compressed": False,
                "NumberOfBuckets": -1,
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
                "BucketColumns": [],
                "SortColumns": [],
                "Parameters": {},
                "StoredAsSubDirectories": False,
            },
        }
        try:
            self.glue.create_table(DatabaseName=database, TableInput=table_input)
        except self.glue.exceptions.AlreadyExistsException:
            if not tree.args.get("exists"):
                raise QueryFailed("ALREADY_EXISTS", f"Table {database}.{name} already exists") from None
        return "", []

    # DROP -------------------------------------------------------------------------------------------
    def drop(self, tokens: _Tokens) -> tuple[str, list[str]]:
        if tokens.accept("TABLE"):
            exists_ok = tokens.accept("IF", "EXISTS")
            database, name = self._split(tokens.name())
            try:
                self.glue.delete_table(DatabaseName=database, Name=name)
            except self.glue.exceptions.EntityNotFoundException:
                if not exists_ok:
                    raise QueryFailed("TABLE_NOT_FOUND", f"Table not found {database}.{name}") from None
            return "", []
        if not (tokens.accept("DATABASE") or tokens.accept("SCHEMA")):
            tokens.fail("expecting: TABLE, DATABASE")
        exists_ok = tokens.accept("IF", "EXISTS")
        name = tokens.name()[-1]
        cascade = tokens.accept("CASCADE")
        if not self.catalog.has_database(name):
            if exists_ok:
                return "", []
            raise QueryFailed("SCHEMA_NOT_FOUND", f"Database does not exist: {name}")
        tables = self.catalog.tables(name)
        if tables and not cascade:
            raise QueryFailed(
                "HIVE_METASTORE_ERROR", f"Database {name} is not empty. One or more tables exist."
            )
        for table in tables:
            self.glue.delete_table(DatabaseName=name, Name=table)
        self.glue.delete_database(Name=name)
        return "", []

    # ALTER TABLE ... ADD / DROP PARTITION -----------------------------------------------------------
    def alter_table(self, tokens: _Tokens) -> tuple[str, list[str]]:
        table = self._table(tokens.name())
        keys = [k for k, _ in table.partition_keys]
        if tokens.accept("ADD"):
            exists_ok = tokens.accept("IF", "NOT", "EXISTS")
            specs = []
            while tokens.accept("PARTITION"):
                values = self._values(table, keys, tokens.spec())
                location = tokens.next_text() if tokens.accept("LOCATION") else ""
                specs.append((values, location or _partition_path(table.location, keys, values)))
            if not specs or not tokens.done():
                tokens.fail("expecting: PARTITION (...) [LOCATION '...']")
            self._add_partitions(table, specs, exists_ok)
            return "", []
        if tokens.accept("DROP"):
            exists_ok = tokens.accept("IF", "EXISTS")
            wanted = []
            while tokens.accept("PARTITION"):
                wanted.append(self._values(table, keys, tokens.spec()))
                tokens.accept(",")
            if not wanted or not tokens.done():
                tokens.fail("expecting: PARTITION (...)")
            existing = {tuple(v) for v, _ in self.catalog.partitions(table)}
            missing = [v for v in wanted if tuple(v) not in existing]
            if missing and not exists_ok:
                raise QueryFailed(
                    "HIVE_METASTORE_ERROR", f"No partition is dropped: {_spec_text(keys, missing[0])}"
                )
            present = [v for v in wanted if tuple(v) in existing]
            for i in range(0, len(present), 25):
                self.glue.batch_delete_partition(
                    DatabaseName=table.database,
                    TableName=table.name,
                    PartitionsToDelete=[{"Values": v} for v in present[i : i + 25]],
                )
            return "", []
        tokens.fail("expecting: ADD, DROP")
        raise AssertionError

    def _values(self, table: _Table, keys: list[str], spec: dict[str, str]) -> list[str]:
        if sorted(spec) != sorted(keys):
            raise QueryFailed(
                "HIVE_METASTORE_ERROR",
                f"Partition spec {spec} does not match the partition keys {keys} "
                f"of {table.database}.{table.name}",
            )
        return [spec[k] for k in keys]

    def _add_partitions(self, table: _Table, specs: list[tuple[list[str], str]], exists_ok: bool) -> None:
        existing = {tuple(v) for v, _ in self.catalog.partitions(table)}
        if not exists_ok:
            for values, _ in specs:
                if tuple(values) in existing:
                    raise QueryFailed(
                        "ALREADY_EXISTS",
                        f"Partition already exists: {_spec_text(table.partition_keys, values)}",
                    )
        new = [(v, loc) for v, loc in specs if tuple(v) not in existing]
        for i in range(0, len(new), 100):
            self.glue.batch_create_partition(
                DatabaseName=table.database,
                TableName=table.name,
                PartitionInputList=[
                    {
                        "Values": values,
                        "StorageDescriptor": {**table.sd, "Location": location},
                        "Parameters": {},
                    }
                    for values, location in new[i : i + 100]
                ],
            )

    def msck_repair(self, table: _Table) -> tuple[str, list[str]]:
        keys = [k for k, _ in table.partition_keys]
        if not keys:
            return "", []
        bucket, prefix = _split_s3(table.location)
        prefix = _as_prefix(prefix)
        found: dict[tuple[str, ...], str] = {}
        for obj in _list_objects(self.s3, bucket, prefix):
            parts = obj["Key"][len(prefix) :].split("/")[: len(keys)]
            if len(parts) < len(keys) or len(obj["Key"][len(prefix) :].split("/")) <= len(keys):
                continue
            pairs = [p.split("=", 1) for p in parts]
            if any(len(p) != 2 or p[0].lower() != k for p, k in zip(pairs, keys, strict=True)):
                continue
            values = [unquote(v) for _, v in pairs]
            if any(":" in v for v in values):
                continue  # Athena's MSCK silently skips these
            found.setdefault(tuple(values), f"s3://{bucket}/{prefix}{'/'.join(parts)}/")
        existing = {tuple(v) for v, _ in self.catalog.partitions(table)}
        new = [(list(v), loc) for v, loc in sorted(found.items()) if v not in existing]
        self._add_partitions(table, new, exists_ok=True)
        names = [f"{table.name}:{_spec_text(table.partition_keys, v, '/')}" for v, _ in new]
        lines = []
        if names:
            lines.append("Partitions not in metastore:\t" + "\t".join(names))
            lines += [f"Repair: Added partition to metastore {n}" for n in names]
        return "", lines

    # SHOW -------------------------------------------------------------------------------------------
    def show(self, tokens: _Tokens) -> tuple[str, list[str]]:
        if tokens.accept("PARTITIONS"):
            table = self._table(tokens.name())
            partitions = (
                _projected_partitions(table)
                if table.parameters.get("projection.enabled", "").lower() == "true"
                else self.catalog.partitions(table)
            )
            return "partition", [_spec_text(table.partition_keys, v, "/") for v, _ in partitions]
        if tokens.accept("TABLES"):
            database = tokens.name()[-1] if (tokens.accept("IN") or tokens.accept("FROM")) else self.database
            names = self.catalog.tables(database)
            if not tokens.done():
                tokens.accept("LIKE")
                pattern = tokens.next_text()
                names = [n for n in names if re.fullmatch(pattern.replace("*", ".*"), n)]
            return "tab_name", names
        if tokens.accept("DATABASES") or tokens.accept("SCHEMAS"):
            names = []
            for page in self.glue.get_paginator("get_databases").paginate():
                names += [d["Name"] for d in page["DatabaseList"]]
            return "database_name", sorted(names)
        if tokens.accept("COLUMNS"):
            tokens.accept("IN") or tokens.accept("FROM")
            table = self._table(tokens.name())
            return "field", [n for n, _ in table.columns + table.partition_keys]
        tokens.fail("expecting: PARTITIONS, TABLES, DATABASES, COLUMNS")
        raise AssertionError


def _spec_text(keys: list[tuple[str, str]] | list[str], values: list[str], sep: str = ", ") -> str:
    names = [k if isinstance(k, str) else k[0] for k in keys]
    return sep.join(f"{k}={v}" for k, v in zip(names, values, strict=True))


def _partition_path(location: str, keys: list[str], values: list[str]) -> str:
    return _as_prefix(location) + "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) + "/"


# --------------------------------------------------------------------------------------------------
# Partition projection
# --------------------------------------------------------------------------------------------------

_JAVA_DATE = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_UNITS = {
    "YEARS": "years",
    "MONTHS": "months",
    "WEEKS": "weeks",
    "DAYS": "days",
    "HOURS": "hours",
    "MINUTES": "minutes",
    "SECONDS": "seconds",
}
_MAX_PROJECTED = 2_000_000


def _strftime_format(java: str) -> str:
    def repl(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("'"):
            return text.strip("'")
        if text not in _JAVA_DATE:
            raise QueryFailed("HIVE_INVALID_METADATA", f"Unsupported projection date format element {text!r}")
        return _JAVA_DATE[text]

    return re.sub(r"'[^']*'|[A-Za-z]+", repl, java)


def _shift(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("years", "months"):
        months = moment.month - 1 + amount * (12 if unit == "years" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    return moment + dt.timedelta(**{unit: amount})


def _projection_bound(text: str, fmt: str, now: dt.datetime) -> dt.datetime:
    text = text.strip()
    match = re.fullmatch(r"NOW(?:\s*([+-])\s*(\d+)\s*([A-Za-z]+?)S?)?", text, re.IGNORECASE)
    if match:
        if not match.group(1):
            return now
        unit = _UNITS.get(match.group(3).upper() + "S")
        if unit is None:
            raise QueryFailed("HIVE_INVALID_METADATA", f"Unsupported projection range unit in {text!r}")
        amount = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
        return _shift(now, amount, unit)
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        raise QueryFailed(
            "HIVE_INVALID_METADATA", f"Projection range value {text!r} does not match its format"
        ) from None


def _projected_values(table: _Table, key: str) -> list[str]:
    params = table.parameters
    kind = params.get(f"projection.{key}.type", "").lower()
    if kind == "enum":
        return [v.strip() for v in params.get(f"projection.{key}.values", "").split(",") if v.strip()]
    if kind == "integer":
        low, high = (int(v) for v in params[f"projection.{key}.range"].split(","))
        step = int(params.get(f"projection.{key}.interval", "1"))
        digits = int(params.get(f"projection.{key}.digits", "0"))
        return [str(v).zfill(digits) for v in range(low, high + 1, step)]
    if kind == "date":
        java = params.get(f"projection.{key}.format", "yyyy-MM-dd")
        fmt = _strftime_format(java)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start_text, end_text = params[f"projection.{key}.range"].split(",")
        start, end = _projection_bound(start_text, fmt, now), _projection_bound(end_text, fmt, now)
        finest = next(
            (
                u
                for tok, u in (
                    ("ss", "seconds"),
                    ("mm", "minutes"),
                    ("HH", "hours"),
                    ("dd", "days"),
                    ("MM", "months"),
                )
                if tok in java
            ),
            "years",
        )
        unit = _UNITS.get(params.get(f"projection.{key}.interval.unit", "").upper(), finest)
        step = int(params.get(f"projection.{key}.interval", "1"))
        values, moment = [], start
        while moment <= end:
            values.append(moment.strftime(fmt))
            if len(values) > _MAX_PROJECTED:
                raise QueryFailed(
                    "HIVE_EXCEEDED_PARTITION_LIMIT", f"Projection of {key} yields too many partitions"
                )
            moment = _shift(moment, step, unit)
        return list(dict.fromkeys(values))
    raise QueryFailed(
        "HIVE_INVALID_METADATA",
        f"Column '{key}': projection type {kind or '(missing)'} is not supported by the local Athena",
    )


def _projected_partitions(table: _Table) -> list[tuple[list[str], str]]:
    keys = [k for k, _ in table.partition_keys]
    columns = [_projected_values(table, k) for k in keys]
    template = table.parameters.get("storage.location.template")
    combos: list[list[str]] = [[]]
    for values in columns:
        combos = [[*c, v] for c in combos for v in values]
    out = []
    for values in combos:
        if template:
            location = template
            for k, v in zip(keys, values, strict=True):
                location = location.replace("${" + k + "}", v)
        else:
            location = _partition_path(table.location, keys, values)
        out.append((values, location))
    return out


# --------------------------------------------------------------------------------------------------
# Data reading (S3 -> Arrow)
# --------------------------------------------------------------------------------------------------


def _list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except ClientError as error:
        raise QueryFailed("HIVE_FILESYSTEM_ERROR", f"Cannot list s3://{bucket}/{prefix}: {error}") from None


def _is_data_key(key: str, prefix: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", ".")) and not key.endswith("_$folder$") and key != prefix


class _ByteCounter:
    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.total += n


class _S3RangeFile(io.RawIOBase):
    """A seekable file over one S3 object that fetches only the byte ranges read (ranged GETs).

    Small blocks (footers) are kept, so a range read twice is fetched and counted once.
    """

    _KEEP = 1 << 20

    _TAIL = 64 << 10

    def __init__(self, s3: Any, bucket: str, key: str, counter: _ByteCounter) -> None:
        super().__init__()
        self.s3, self.bucket, self.key, self.counter = s3, bucket, key, counter
        self._pos = 0
        # the first GET fetches the tail (Parquet's footer, all of a small file) and tells the size
        tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{self._TAIL}")
        body = tail["Body"].read()
        counter.add(len(body))
        content_range = tail.get("ContentRange") or ""
        self.size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else len(body)
        self._blocks: list[tuple[int, bytes]] = [(self.size - len(body), body)]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        start = self._pos
        end = self.size if n is None or n < 0 else min(self.size, start + n)
        if end <= start:
            return b""
        for block_start, block in self._blocks:
            if block_start <= start and end <= block_start + len(block):
                self._pos = end
                return block[start - block_start : end - block_start]
        body = self.s3.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}")[
            "Body"
        ].read()
        self.counter.add(len(body))
        if len(body) <= self._KEEP:
            self._blocks.append((start, body))
        self._pos = start + len(body)
        return body

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _InProcessS3:
    """The stack's S3 objects read straight from moto's backend, when moto runs in this process.

    No HTTP and no copies: an object's bytes are handed to Arrow as they lie in moto's store, the
    in-memory buffer itself or a read-only memory map of the temporary file moto spools large objects
    to, so reading a Parquet file decodes only the column chunks a query needs.
    """

    def __init__(self, account_id: str) -> None:
        from moto.s3.models import s3_backends

        self.backend = s3_backends[account_id]["aws"]

    def _bucket(self, bucket: str) -> Any:
        from moto.s3.exceptions import MissingBucket

        try:
            return self.backend.get_bucket(bucket)
        except MissingBucket:
            raise QueryFailed("HIVE_FILESYSTEM_ERROR", f"Cannot access s3://{bucket}: NoSuchBucket") from None

    def list(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        from moto.s3.models import FakeKey

        keys = self._bucket(bucket).keys
        found = [
            {"Key": name, "Size": obj.size}
            for name in list(dict.keys(keys))  # the current names, without moto's copy of every value
            if name.startswith(prefix) and isinstance(obj := keys.get(name), FakeKey)
        ]
        return sorted(found, key=lambda o: o["Key"])

    def open(self, bucket: str, key: str) -> tuple[pa.Buffer, str]:
        """The object's bytes (zero-copy) and its ETag."""
        obj = self.backend.get_object(bucket, key) if bucket in self.backend.buckets else None
        if obj is None:
            raise QueryFailed(
                "HIVE_CANNOT_OPEN_SPLIT", f"Error opening Hive split s3://{bucket}/{key}: NoSuchKey"
            )
        with obj.lock:
            etag = obj.etag
            spooled = obj._value_buffer  # moto keeps values in a SpooledTemporaryFile
            if obj.contentsize == 0:
                return pa.py_buffer(b""), etag
            if not getattr(spooled, "_rolled", False):
                # BytesIO.getvalue() shares the buffer while nobody writes to it (values never change)
                return pa.py_buffer(spooled._file.getvalue()), etag
            spooled.flush()
            mapped = mmap.mmap(spooled.fileno(), obj.contentsize, access=mmap.ACCESS_READ)
        return pa.py_buffer(mapped), etag

    def get(self, bucket: str, key: str) -> bytes:
        return self.open(bucket, key)[0].to_pybytes()

    def put(self, bucket: str, key: str, body: bytes) -> None:
        from moto.s3.exceptions import MissingBucket

        try:
            self.backend.put_object(bucket, key, body)
        except MissingBucket:
            raise QueryFailed(
                "HIVE_FILESYSTEM_ERROR", f"Unable to write query results to s3://{bucket}/{key}: NoSuchBucket"
            ) from None


class _Footers:
    """Parquet footers by (bucket, key, ETag): a file read again is not parsed again."""

    _KEEP = 4096

    def __init__(self) -> None:
        self._footers: dict[tuple[str, str, str], pq.FileMetaData] = {}
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str, etag: str) -> pq.FileMetaData | None:
        with self._lock:
            return self._footers.get((bucket, key, etag))

    def put(self, bucket: str, key: str, etag: str, metadata: pq.FileMetaData) -> None:
        with self._lock:
            if len(self._footers) >= self._KEEP:
                self._footers.pop(next(iter(self._footers)))
            self._footers[(bucket, key, etag)] = metadata


_SMALL_DICTIONARY = 64 << 10


def _dictionary_columns(parquet: pq.ParquetFile, columns: list[str]) -> list[str]:
    """The string columns among ``columns`` that the file stores dictionary-encoded throughout.

    A small dictionary page means the writer never fell back to plain pages (writers fall back
    when the dictionary outgrows about a megabyte), so those columns have few distinct values.
    """
    metadata, schema = parquet.metadata, parquet.schema_arrow
    out = []
    for name in columns:
        field = schema.field(name)
        if not pa.types.is_string(field.type) and not pa.types.is_large_string(field.type):
            continue
        index = next((i for i in range(metadata.num_columns) if metadata.schema.column(i).path == name), None)
        if index is None:
            continue
        chunks = [metadata.row_group(g).column(index) for g in range(metadata.num_row_groups)]
        if chunks and all(
            c.has_dictionary_page
            and c.dictionary_page_offset
            and 0 < c.data_page_offset - c.dictionary_page_offset <= _SMALL_DICTIONARY
            for c in chunks
        ):
            out.append(name)
    return out


def _decode_where_mixed(pieces: list[pa.Table]) -> list[pa.Table]:
    """Files that disagree on a column's dictionary encoding are concatenated with it decoded."""
    if all(p.schema == pieces[0].schema for p in pieces):
        return pieces
    out = []
    for piece in pieces:
        for i, column in enumerate(piece.columns):
            if pa.types.is_dictionary(column.type):
                piece = piece.set_column(i, piece.field(i).name, pc.cast(column, column.type.value_type))
        out.append(piece)
    return out


def _projected_bytes(metadata: pq.FileMetaData, columns: list[str], file_size: int, footer: int) -> int:
    """Bytes a reader of ``columns`` needs: their column chunks in every row group, plus the footer."""
    wanted = set(columns)
    leaves = [
        i for i in range(metadata.num_columns) if metadata.schema.column(i).path.split(".")[0] in wanted
    ]
    chunks = sum(
        metadata.row_group(g).column(i).total_compressed_size
        for g in range(metadata.num_row_groups)
        for i in leaves
    )
    return min(file_size, chunks + footer)


_SCALAR_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "boolean": pa.bool_(),
    "double": pa.float64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
    "binary": pa.binary(),
}


def _arrow_type(hive_type: str) -> pa.DataType | None:
    """The Arrow type of a scalar Hive type; None for complex types (read as they come)."""
    match = re.match(r"(\w+)(?:\((\d+)\s*,\s*(\d+)\))?", hive_type)
    base = match.group(1) if match else hive_type
    if base == "decimal":
        return pa.decimal128(int(match.group(2) or 10), int(match.group(3) or 0)) if match else None
    return _SCALAR_TYPES.get(base)


@dataclass
class _Source:
    """What to read of one table reference: files per partition, columns, declared types."""

    table: _Table
    columns: list[str]
    partitions: list[tuple[list[str], str]]


class _Reader:
    """Reads tables into Arrow: from moto's backend when it is in this process, else with boto3."""

    def __init__(
        self,
        s3: Any,
        counter: _ByteCounter,
        cancelled: Callable[[], bool],
        local: _InProcessS3 | None = None,
        footers: _Footers | None = None,
    ) -> None:
        self.s3 = s3
        self.counter = counter
        self.cancelled = cancelled
        self.local = local
        self.footers = footers or _Footers()

    def _list(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        if self.local is not None:
            return self.local.list(bucket, prefix)
        return list(_list_objects(self.s3, bucket, prefix))

    def _get(self, bucket: str, key: str) -> bytes:
        if self.local is not None:
            return self.local.get(bucket, key)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def files(
        self, table: _Table, partitions: list[tuple[list[str], str]]
    ) -> list[tuple[list[str], str, str, int | None]]:
        """(partition values, bucket, key, size) of every data file, following symlink manifests."""
        listing: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if len(partitions) > 20:  # one listing of the table prefix beats one per partition
            bucket, prefix = _split_s3(table.location)
            listing[(bucket, _as_prefix(prefix))] = self._list(bucket, _as_prefix(prefix))
        out = []
        for values, location in partitions:
            bucket, prefix = _split_s3(location)
            prefix = _as_prefix(prefix)
            objects = next(
                (
                    [o for o in objs if o["Key"].startswith(prefix)]
                    for (b, p), objs in listing.items()
                    if b == bucket and prefix.startswith(p)
                ),
                None,
            )
            if objects is None:
                objects = self._list(bucket, prefix)
            for obj in objects:
                if not _is_data_key(obj["Key"], prefix):
                    continue
                if table.sd.get("InputFormat") == _SYMLINK_INPUT:
                    for target in self._symlink_targets(bucket, obj["Key"]):
                        out.append((values, *target))
                else:
                    out.append((values, bucket, obj["Key"], obj["Size"]))
        return out

    def _symlink_targets(self, bucket: str, key: str) -> Iterator[tuple[str, str, int | None]]:
        """The data files a symlink manifest lists (sizes unknown until read)."""
        text = self._get(bucket, key).decode()
        for line in filter(None, (s.strip() for s in text.splitlines())):
            yield (*_split_s3(line), None)

    def read(self, source: _Source) -> pa.Table:
        table = source.table
        declared = dict(table.columns)
        keys = table.partition_keys
        data_columns = [c for c in source.columns if c in declared]
        part_columns = [k for k, _ in keys if k in source.columns]
        names = [n for n, _ in keys]

        def read_one(split: tuple[list[str], str, str, int | None]) -> pa.Table:
            values, bucket, key, _ = split
            if self.cancelled():
                raise QueryFailed("USER_CANCELLED", "Query was cancelled")
            uri = f"s3://{bucket}/{key}"
            try:
                piece = self._read_file(table, bucket, key, data_columns)
            except QueryFailed:
                raise
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise QueryFailed(
                    "HIVE_CANNOT_OPEN_SPLIT", f"Error opening Hive split {uri}: {code}"
                ) from None
            except Exception as error:
                raise QueryFailed("HIVE_BAD_DATA", f"Error reading file {uri}: {error}") from None
            piece = _conform(piece, data_columns, declared, uri)
            for k, hive_type in keys:
                if k in part_columns:
                    value = pa.array([values[names.index(k)]], pa.string())
                    target = _arrow_type(hive_type)
                    if target is not None and target != pa.string():
                        value = pc.cast(value, target)
                    # one value for every row: a dictionary of one entry, not num_rows copies
                    indices = pa.repeat(pa.scalar(0, pa.int32()), piece.num_rows)
                    piece = piece.append_column(k, pa.DictionaryArray.from_arrays(indices, value))
            return piece

        splits = self.files(table, source.partitions)
        with ThreadPoolExecutor(max_workers=FILE_READERS, thread_name_prefix="local-athena-read") as pool:
            pieces = list(pool.map(read_one, splits))
        schema = pa.schema(
            [(c, _arrow_type(declared[c]) or pa.string()) for c in data_columns]
            + [(k, _arrow_type(t) or pa.string()) for k, t in keys if k in part_columns]
        )
        if not pieces:
            return schema.empty_table()
        return pa.concat_tables(_decode_where_mixed(pieces), promote_options="permissive")

    def _read_parquet_buffer(self, bucket: str, key: str, columns: list[str]) -> pa.Table:
        """One Parquet object from moto's store: only the projected column chunks are decoded."""
        if self.local is None:
            raise AssertionError("in-process reads need moto's backend")
        buffer, etag = self.local.open(bucket, key)
        if buffer.size < 12 or buffer[buffer.size - 4 :].to_pybytes() != b"PAR1":
            raise QueryFailed(
                "HIVE_BAD_DATA", f"Error reading file s3://{bucket}/{key}: not a Parquet file (no footer)"
            )
        footer = int.from_bytes(buffer[buffer.size - 8 : buffer.size - 4].to_pybytes(), "little") + 8
        metadata = self.footers.get(bucket, key, etag)
        parquet = pq.ParquetFile(pa.BufferReader(buffer), metadata=metadata)
        if metadata is None:
            self.footers.put(bucket, key, etag, parquet.metadata)
        present = {n.lower(): n for n in parquet.schema_arrow.names}
        wanted = [present[c] for c in columns if c in present]
        self.counter.add(_projected_bytes(parquet.metadata, wanted, buffer.size, footer))
        encoded = _dictionary_columns(parquet, wanted)
        if encoded:  # decode those as Arrow dictionaries rather than one string per row
            parquet = pq.ParquetFile(
                pa.BufferReader(buffer), metadata=parquet.metadata, read_dictionary=encoded
            )
        result = parquet.read(columns=wanted, use_threads=True)
        return result.rename_columns([n.lower() for n in result.column_names])

    def _read_file(self, table: _Table, bucket: str, key: str, columns: list[str]) -> pa.Table:
        serde = table.sd.get("SerdeInfo", {})
        library = serde.get("SerializationLibrary", "")
        params = serde.get("Parameters", {}) or {}
        if library == _PARQUET_SERDE and self.local is not None:
            return self._read_parquet_buffer(bucket, key, columns)
        if library == _PARQUET_SERDE:
            # scanned bytes are counted as in process (footer + projected chunks), not as fetched
            with _S3RangeFile(self.s3, bucket, key, _ByteCounter()) as raw:
                parquet = pq.ParquetFile(raw, pre_buffer=True)
                present = {n.lower(): n for n in parquet.schema_arrow.names}
                wanted = [present[c] for c in columns if c in present]
                footer = parquet.metadata.serialized_size + 8
                self.counter.add(_projected_bytes(parquet.metadata, wanted, raw.size, footer))
                result = parquet.read(columns=wanted, use_threads=True)
                return result.rename_columns([n.lower() for n in result.column_names])
        body = self._get(bucket, key)
        self.counter.add(len(body))
        if key.endswith(".gz"):
            body = gzip.decompress(body)
        if library == _ORC_SERDE:
            import pyarrow.orc as pa_orc

            orc = pa_orc.ORCFile(io.BytesIO(body))
            present = {n.lower(): n for n in orc.schema.names}
            result = orc.read(columns=[present[c] for c in columns if c in present])
            return result.rename_columns([n.lower() for n in result.column_names])
        if library in _JSON_SERDES:
            lines = [line for line in body.splitlines() if line.strip()]
            if not lines:
                return pa.table({})
            result = pa_json.read_json(io.BytesIO(b"\n".join(lines)))
            return result.rename_columns([n.lower() for n in result.column_names])
        # delimited text: OpenCSVSerde (quoted) or LazySimpleSerDe (plain delimiter)
        names = [n for n, _ in table.columns]
        skip = int(table.parameters.get("skip.header.line.count", "0"))
        if library == _OPENCSV_SERDE:
            parse = pa_csv.ParseOptions(
                delimiter=params.get("separatorChar", ","),
                quote_char=params.get("quoteChar", '"'),
                escape_char=params.get("escapeChar", False) or False,
            )
        else:
            delimiter = params.get("field.delim", "\x01")
            parse = pa_csv.ParseOptions(delimiter=delimiter, quote_char=False)
        result = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=skip),
            parse_options=parse,
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
        return result.select([c for c in columns if c in names])


def _conform(piece: pa.Table, columns: list[str], declared: dict[str, str], uri: str) -> pa.Table:
    """The file's columns in table order and declared types; missing columns are NULL, as in Hive."""
    arrays = []
    for name in columns:
        target = _arrow_type(declared[name])
        if name not in piece.column_names:
            arrays.append(pa.nulls(piece.num_rows, target or pa.string()))
            continue
        column = piece.column(name)
        if pa.types.is_dictionary(column.type) and column.type.value_type == target:
            pass  # dictionary-encoded strings stay encoded: DuckDB scans and groups them as such
        elif target is not None and column.type != target:
            try:
                if pa.types.is_timestamp(column.type) and pa.types.is_integer(target):
                    column = pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
                if pa.types.is_string(column.type) and not pa.types.is_string(target):
                    column = pc.if_else(pc.equal(column, ""), None, column)
                column = pc.cast(column, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise QueryFailed(
                    "HIVE_BAD_DATA",
                    f"Field {name}'s type {column.type} in file {uri} is incompatible with type "
                    f"{declared[name]} defined in table schema ({error})",
                ) from None
        arrays.append(column)
    if not columns:  # only the row count matters (count(*), partition columns)
        return piece.select([])
    return pa.table(dict(zip(columns, arrays, strict=True)))


# --------------------------------------------------------------------------------------------------
# Execution: SELECT in DuckDB
# --------------------------------------------------------------------------------------------------


@dataclass
class _Result:
    columns: list[dict[str, Any]]
    rows: list[list[str | None]]
    header: bool  # SELECT results carry a header row; DDL results do not


def _database() -> duckdb.DuckDBPyConnection:
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


def _name_unnamed_columns(tree: exp.Expression) -> None:
    """Trino names unnamed result columns ``_col0``, ``_col1``, ... (0-based)."""
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return
    for i, projection in enumerate(select.expressions):
        if not isinstance(projection, exp.Alias | exp.Column | exp.Star):
            projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


def _trino_semantics(tree: exp.Expression) -> exp.Expression:
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
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() == "url_decode" and len(node.expressions) == 1:
            # Trino decodes as Java's URLDecoder ('+' is a space, '%2B' a plus); DuckDB keeps '+'
            plus_as_space = exp.Anonymous(
                this="replace",
                expressions=[node.expressions[0].copy(), exp.Literal.string("+"), exp.Literal.string(" ")],
            )
            node.replace(exp.Anonymous(this="url_decode", expressions=[plus_as_space]))
    return tree


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


def _text(value: Any, arrow_type: pa.DataType | None = None) -> str | None:
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


def _to_result(table: pa.Table) -> _Result:
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
    return _Result(columns, rows, header=True)


# --------------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------------


@dataclass
class _Execution:
    id: str
    query: str
    database: str
    catalog: str
    workgroup: str
    output: str
    parameters: list[str]
    state: str = QUEUED
    reason: str = ""
    statement_type: str = "DML"
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    completed: float | None = None
    scanned: int = 0
    engine_ms: int = 0
    result: _Result | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    connection: duckdb.DuckDBPyConnection | None = None

    def describe(self) -> dict[str, Any]:
        suffix = ".csv" if self.statement_type == "DML" else ".txt"
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.state == FAILED:
            status["AthenaError"] = {
                "ErrorCategory": 2,
                "ErrorType": 1000,
                "Retryable": False,
                "ErrorMessage": self.reason,
            }
        queued_ms = int(((self.started or time.time()) - self.submitted) * 1000)
        total_ms = int(((self.completed or time.time()) - self.submitted) * 1000)
        return {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": f"{self.output.rstrip('/')}/{self.id}{suffix}"},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": self.engine_ms,
                "DataScannedInBytes": self.scanned,
                "TotalExecutionTimeInMillis": total_ms,
                "QueryQueueTimeInMillis": queued_ms,
                "ServicePreProcessingTimeInMillis": 0,
                "QueryPlanningTimeInMillis": 0,
                "ServiceProcessingTimeInMillis": 0,
                "ResultReuseInformation": {"ReusedPreviousResult": False},
            },
            "WorkGroup": self.workgroup,
            "EngineVersion": {
                "SelectedEngineVersion": "AUTO",
                "EffectiveEngineVersion": "Athena engine version 3",
            },
            "ExecutionParameters": self.parameters,
            "SubstatementType": "SELECT" if self.statement_type == "DML" else "UNKNOWN",
        }


def _error(message: str, kind: str = "InvalidRequestException") -> tuple[int, dict[str, Any]]:
    return 400, {"__type": kind, "Message": message, "message": message, "AthenaErrorCode": "INVALID_INPUT"}


class LocalAthena:
    """Athena's query API over the local endpoint's Glue and S3; see the module docstring."""

    def __init__(self, endpoint_url: str, region: str, *, in_process: bool = False) -> None:
        """``in_process``: moto serves ``endpoint_url`` from this very process, so objects and catalog
        entries are read from its backends directly (writes still go through the API)."""
        config = Config(retries={"max_attempts": 2}, max_pool_connections=16)
        self.s3 = client("s3", endpoint_url, region=region, config=config)
        self.glue = client("glue", endpoint_url, region=region, config=config)
        self.athena = client("athena", endpoint_url, region=region, config=config)
        self._local: _InProcessS3 | None = None
        self._work_groups: Any = None
        glue_backend = None
        if in_process:
            from moto.athena.models import athena_backends
            from moto.glue.models import glue_backends

            self._local = _InProcessS3(ACCOUNT_ID)
            glue_backend = glue_backends[ACCOUNT_ID][region]
            self._work_groups = athena_backends[ACCOUNT_ID][region]
        self.catalog = _Catalog(self.glue, glue_backend)
        self._footers = _Footers()
        self._duckdb: duckdb.DuckDBPyConnection | None = None
        self._executions: dict[str, _Execution] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="local-athena")

    # dispatch -------------------------------------------------------------------------------------
    def handle(self, action: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        handler = {
            "StartQueryExecution": self._start,
            "GetQueryExecution": self._get,
            "BatchGetQueryExecution": self._batch_get,
            "GetQueryResults": self._results,
            "StopQueryExecution": self._stop,
            "ListQueryExecutions": self._list,
        }.get(action)
        if handler is None:
            return None  # work groups, data catalogs, named queries: moto
        try:
            return 200, handler(params)
        except _BadRequest as error:
            return _error(str(error))

    def close(self) -> None:
        with self._lock:
            running = list(self._executions.values())
        for execution in running:
            execution.cancel.set()
            if execution.connection is not None:
                execution.connection.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._duckdb is not None:
            self._duckdb.close()
            self._duckdb = None

    def _engine(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._duckdb is None:
                self._duckdb = _database()
            return self._duckdb

    # API calls ------------------------------------------------------------------------------------
    def _start(self, params: dict[str, Any]) -> dict[str, Any]:
        query = params.get("QueryString") or ""
        if not query.strip():
            raise _BadRequest("QueryString must not be empty")
        token = params.get("ClientRequestToken")
        with self._lock:
            if token and token in self._tokens:
                previous = self._executions[self._tokens[token]]
                if previous.query != query:
                    raise _BadRequest("Idempotent parameters do not match the original request")
                return {"QueryExecutionId": previous.id}
        workgroup = params.get("WorkGroup") or "primary"
        context = params.get("QueryExecutionContext") or {}
        execution = _Execution(
            id=str(uuid.uuid4()),
            query=query,
            database=(context.get("Database") or "default").lower(),
            catalog=context.get("Catalog") or CATALOG,
            workgroup=workgroup,
            output=self._output_location(workgroup, params.get("ResultConfiguration") or {}),
            parameters=list(params.get("ExecutionParameters") or []),
        )
        with self._lock:
            if token and token in self._tokens:  # a concurrent retry won the race
                return {"QueryExecutionId": self._tokens[token]}
            self._executions[execution.id] = execution
            if token:
                self._tokens[token] = execution.id
        self._pool.submit(self._run, execution)
        return {"QueryExecutionId": execution.id}

    def _output_location(self, workgroup: str, requested: dict[str, Any]) -> str:
        if self._work_groups is not None:
            found = self._work_groups.get_work_group(workgroup)
            if found is None:
                raise _BadRequest(f"WorkGroup {workgroup} is not found.")
            config = found.get("Configuration") or {}
        else:
            try:
                config = self.athena.get_work_group(WorkGroup=workgroup)["WorkGroup"].get("Configuration", {})
            except ClientError:
                raise _BadRequest(f"WorkGroup {workgroup} is not found.") from None
        from_workgroup = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        location = from_workgroup if config.get("EnforceWorkGroupConfiguration") and from_workgroup else None
        location = location or requested.get("OutputLocation") or from_workgroup
        if not location:
            raise _BadRequest(
                "No output location provided. An output location is required either through the Workgroup "
                "result configuration setting or as an API input."
            )
        if not location.startswith("s3://"):
            raise _BadRequest(f"Invalid output location: {location}")
        return location

    def _execution(self, execution_id: str | None) -> _Execution:
        with self._lock:
            execution = self._executions.get(execution_id or "")
        if execution is None:
            raise _BadRequest(f"QueryExecution {execution_id} was not found")
        return execution

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"QueryExecution": self._execution(params.get("QueryExecutionId")).describe()}

    def _batch_get(self, params: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for execution_id in params.get("QueryExecutionIds") or []:
            with self._lock:
                execution = self._executions.get(execution_id)
            if execution is None:
                missing.append(
                    {
                        "QueryExecutionId": execution_id,
                        "ErrorCode": "INVALID_INPUT",
                        "ErrorMessage": "not found",
                    }
                )
            else:
                found.append(execution.describe())
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _stop(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(params.get("QueryExecutionId"))
        execution.cancel.set()
        with self._lock:
            if execution.state == QUEUED:
                self._finish(execution, CANCELLED, "Query was cancelled by user")
        if execution.connection is not None:
            execution.connection.interrupt()
        return {}

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        workgroup = params.get("WorkGroup") or "primary"
        with self._lock:
            ids = [
                e.id
                for e in sorted(self._executions.values(), key=lambda e: -e.submitted)
                if e.workgroup == workgroup
            ]
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 50)
        answer: dict[str, Any] = {"QueryExecutionIds": ids[start : start + size]}
        if start + size < len(ids):
            answer["NextToken"] = str(start + size)
        return answer

    def _results(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(params.get("QueryExecutionId"))
        if execution.state in (QUEUED, RUNNING):
            raise _BadRequest(f"Query has not yet finished. Current state: {execution.state}")
        if execution.state != SUCCEEDED or execution.result is None:
            raise _BadRequest(
                f"Query did not finish successfully. Final query state: {execution.state}\n{execution.reason}"
            )
        result = execution.result
        size = int(params.get("MaxResults") or MAX_RESULTS)
        if not 1 <= size <= MAX_RESULTS:
            raise _BadRequest(f"MaxResults must be between 1 and {MAX_RESULTS}")
        try:
            start = int(params.get("NextToken") or 0)
        except ValueError:
            raise _BadRequest("Invalid NextToken") from None
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

    # execution ------------------------------------------------------------------------------------
    def _finish(self, execution: _Execution, state: str, reason: str = "") -> None:
        if execution.state in (SUCCEEDED, FAILED, CANCELLED):
            return
        execution.state = state
        execution.reason = reason
        execution.completed = time.time()

    def _run(self, execution: _Execution) -> None:
        with self._lock:
            if execution.state != QUEUED:
                return
            execution.state = RUNNING
            execution.started = time.time()
        started = time.perf_counter()
        try:
            result = self._execute(execution)
            self._write_result(execution, result)
        except QueryFailed as error:
            execution.engine_ms = int((time.perf_counter() - started) * 1000)
            with self._lock:
                if execution.cancel.is_set():
                    self._finish(execution, CANCELLED, "Query was cancelled by user")
                else:
                    self._finish(execution, FAILED, str(error))
            log.info("query %s failed: %s", execution.id, error)
            return
        except Exception as error:
            with self._lock:
                if execution.cancel.is_set():  # whatever the interrupted engine raised on its way out
                    self._finish(execution, CANCELLED, "Query was cancelled by user")
                    return
                self._finish(execution, FAILED, f"GENERIC_INTERNAL_ERROR: {error}")
            log.exception("query %s failed unexpectedly", execution.id)
            return
        finally:
            execution.connection = None
        execution.engine_ms = int((time.perf_counter() - started) * 1000)
        with self._lock:
            execution.result = result
            if execution.cancel.is_set():
                self._finish(execution, CANCELLED, "Query was cancelled by user")
            else:
                self._finish(execution, SUCCEEDED)

    def _execute(self, execution: _Execution) -> _Result:
        sql = execution.query.strip().rstrip(";").strip()
        if _COMMAND.match(sql):  # statements sqlglot only knows as opaque commands
            execution.statement_type = "DDL"
            return _ddl_result(*_Ddl(self.catalog, self.s3, execution.database).run(sql, None))
        try:
            statements = sqlglot.parse(sql, read="athena")
        except ParseError as error:
            detail = error.errors[0] if error.errors else {}
            line, col = detail.get("line", 1), detail.get("col", 1)
            description = detail.get("description") or str(error)
            highlight = detail.get("highlight")
            near = f" at or near '{highlight}'" if highlight else ""
            raise QueryFailed("SYNTAX_ERROR", f"line {line}:{col}: {description}{near}") from None
        statements = [s for s in statements if s is not None]
        if len(statements) != 1:
            raise QueryFailed("SYNTAX_ERROR", "line 1:1: only one statement per query is supported")
        tree = statements[0]
        if isinstance(tree, exp.Query):
            return self._select(execution, sql, tree)
        execution.statement_type = "DDL"
        return _ddl_result(*_Ddl(self.catalog, self.s3, execution.database).run(sql, tree))

    def _select(self, execution: _Execution, sql: str, tree: exp.Expression) -> _Result:
        placeholders = list(tree.find_all(exp.Placeholder))
        if len(placeholders) != len(execution.parameters):
            raise QueryFailed(
                "INVALID_PARAMETER_USAGE",
                f"Incorrect number of parameters: expected {len(placeholders)} "
                f"but found {len(execution.parameters)}",
            )
        for node, value in zip(placeholders, execution.parameters, strict=True):
            node.replace(sqlglot.parse_one(value, read="athena"))
        _name_unnamed_columns(tree)
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        referenced = {c.name.lower() for c in tree.find_all(exp.Column) if c.name}
        star = any(not isinstance(s.parent, exp.Count) for s in tree.find_all(exp.Star))
        counter = _ByteCounter()
        reader = _Reader(self.s3, counter, execution.cancel.is_set, self._local, self._footers)
        con = self._engine().cursor()
        execution.connection = con
        try:
            schema: dict[str, dict[str, str]] = {}
            for i, node in enumerate(list(tree.find_all(exp.Table))):
                if (
                    not node.name
                    or isinstance(node.this, exp.Func)
                    or (not node.db and node.name.lower() in ctes)
                ):
                    continue
                database = (node.db or execution.database).lower()
                name = node.name.lower()
                first = node.args.get("db") or node.this
                table = self.catalog.table(database, name, _where(sql, first.meta.get("start")))
                all_columns = table.columns + table.partition_keys
                needed = [c for c, _ in all_columns if star or c in referenced] or [all_columns[0][0]]
                partitions = self._partitions(con, table, node)
                data = reader.read(_Source(table, needed, partitions))
                view = f"__src{i}"
                con.register(view, data)
                schema[view] = {c: t for c, t in all_columns if c in needed}
                alias = node.alias or name
                node.replace(
                    exp.Table(
                        this=exp.to_identifier(view), alias=exp.TableAlias(this=exp.to_identifier(alias))
                    )
                )
            tree = self._annotate(tree, schema, sql)
            duck_sql = _trino_semantics(tree).sql(dialect="duckdb")
            log.debug("DuckDB SQL: %s", duck_sql)
            try:
                relation = con.sql(duck_sql)
                arrow = relation.to_arrow_table() if relation is not None else pa.table({})
            except duckdb.Error as error:
                if execution.cancel.is_set():
                    raise QueryFailed("USER_CANCELLED", "Query was cancelled by user") from None
                raise _engine_error(error) from None
        finally:
            con.close()
        execution.scanned = counter.total
        return _to_result(arrow)

    def _annotate(self, tree: exp.Expression, schema: dict[str, dict[str, str]], sql: str) -> exp.Expression:
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

    def _partitions(
        self, con: duckdb.DuckDBPyConnection, table: _Table, node: exp.Table
    ) -> list[tuple[list[str], str]]:
        """The partitions of one table reference that survive its WHERE conjuncts on partition columns."""
        keys = table.partition_keys
        if not keys:
            return [([], table.location)]
        if table.parameters.get("projection.enabled", "").lower() == "true":
            partitions = _projected_partitions(table)
        else:
            partitions = self.catalog.partitions(table)
        select = node.find_ancestor(exp.Select)
        where = select.args.get("where") if select else None
        if not where or not partitions:
            return partitions
        names = {k for k, _ in keys}
        alias = (node.alias or node.name).lower()
        usable = []
        for conjunct in _conjuncts(where.this):
            columns = list(conjunct.find_all(exp.Column))
            if (
                columns
                and not conjunct.find(exp.Subquery, exp.Select)
                and all(
                    c.name.lower() in names and (not c.table or c.table.lower() == alias) for c in columns
                )
            ):
                usable.append(conjunct)
        if not usable:
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
            where_sql = _trino_semantics(predicate).sql(dialect="duckdb")
            rows = con.sql(
                f"SELECT __i FROM (SELECT __i, {casts} FROM __partitions) WHERE {where_sql}"  # noqa: S608
            ).fetchall()
        except duckdb.Error as error:
            log.debug("partition filter not evaluable (%s); reading all partitions", error)
            return partitions
        finally:
            con.unregister("__partitions")
        return [partitions[i] for (i,) in rows]

    def _put(self, bucket: str, key: str, body: bytes) -> None:
        if self._local is not None:
            self._local.put(bucket, key, body)
        else:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _write_result(self, execution: _Execution, result: _Result) -> None:
        bucket, prefix = _split_s3(execution.output)
        key = f"{_as_prefix(prefix)}{execution.id}"
        try:
            if execution.statement_type == "DML":
                buffer = io.StringIO()
                lines = [[c["Name"] for c in result.columns], *result.rows]
                for row in lines:
                    buffer.write(
                        ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n"
                    )
                self._put(bucket, f"{key}.csv", buffer.getvalue().encode())
                metadata = json.dumps({"ColumnInfo": result.columns}).encode()
                self._put(bucket, f"{key}.csv.metadata", metadata)
            else:
                text = "".join(row[0] + "\n" for row in result.rows)
                self._put(bucket, f"{key}.txt", text.encode())
        except ClientError as error:
            raise QueryFailed(
                "HIVE_FILESYSTEM_ERROR", f"Unable to write query results to {execution.output}: {error}"
            ) from None


_COMMAND = re.compile(r"\s*(MSCK|SHOW|ALTER|DESCRIBE|DESC|DROP|CREATE\s+(DATABASE|SCHEMA))\b", re.IGNORECASE)


def _ddl_result(column: str, lines: list[str]) -> _Result:
    info = {
        "Name": column,
        "Label": column,
        "Type": "string",
        "Nullable": "UNKNOWN",
        "Precision": 0,
        "Scale": 0,
    }
    return _Result(
        [info | {"CaseSensitive": False}] if column else [], [[line] for line in lines], header=False
    )


def _engine_error(error: duckdb.Error) -> QueryFailed:
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


__all__ = ["LocalAthena", "QueryFailed"]
