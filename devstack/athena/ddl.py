"""DDL: CREATE DATABASE / EXTERNAL TABLE, DROP, ALTER TABLE ADD / DROP PARTITION, MSCK REPAIR TABLE,
SHOW and DESCRIBE, applied to the stack's Glue as Athena applies them.

sqlglot parses CREATE TABLE; the other statements it knows only as opaque commands (:data:`COMMAND`),
so a small tokenizer reads them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sqlglot import exp

from devstack.athena.catalog import (
    STORED_AS,
    Catalog,
    Table,
    as_prefix,
    partition_path,
    spec_text,
    split_s3,
)
from devstack.athena.errors import QueryFailed, line_col
from devstack.athena.projection import projected_partitions
from devstack.athena.storage import list_objects

COMMAND = re.compile(r"\s*(MSCK|SHOW|ALTER|DESCRIBE|DESC|DROP|CREATE\s+(DATABASE|SCHEMA))\b", re.IGNORECASE)


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
            "SYNTAX_ERROR", f"{line_col(self.sql, token.start if token else len(self.sql))}: {got}. {message}"
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


class Ddl:
    """Applies one DDL statement to Glue; returns the statement's result lines (column name, lines)."""

    def __init__(self, catalog: Catalog, s3: Any, database: str) -> None:
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

    def _table(self, name: list[str]) -> Table:
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
        input_format, output_format, serde = STORED_AS["TEXTFILE"]
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
                    if stored not in STORED_AS:
                        raise QueryFailed("NOT_SUPPORTED", f"STORED AS {stored} is not supported locally")
                    input_format, output_format, default_serde = STORED_AS[stored]
                    if not serde_explicit:
                        serde = default_serde
            elif isinstance(prop, exp.LocationProperty):
                location = _literal(prop.this)
            elif isinstance(prop, exp.SchemaCommentProperty):
                parameters["comment"] = _literal(prop.this)
            elif type(prop) is exp.Property:
                parameters[_literal(prop.this)] = _literal(prop.args.get("value"))
        if not location:
            raise QueryFailed(
                "SYNTAX_ERROR", f"{line_col(sql, None)}: CREATE EXTERNAL TABLE needs a LOCATION"
            )
        split_s3(location)
        serde_params.setdefault("serialization.format", serde_params.get("field.delim", "1"))
        if not self.catalog.has_database(database):
            raise QueryFailed(
                "SCHEMA_NOT_FOUND", f"{line_col(sql, None)}: Schema '{database}' does not exist"
            )
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
                specs.append((values, location or partition_path(table.location, keys, values)))
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
                    "HIVE_METASTORE_ERROR", f"No partition is dropped: {spec_text(keys, missing[0])}"
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

    def _values(self, table: Table, keys: list[str], spec: dict[str, str]) -> list[str]:
        if sorted(spec) != sorted(keys):
            raise QueryFailed(
                "HIVE_METASTORE_ERROR",
                f"Partition spec {spec} does not match the partition keys {keys} "
                f"of {table.database}.{table.name}",
            )
        return [spec[k] for k in keys]

    def _add_partitions(self, table: Table, specs: list[tuple[list[str], str]], exists_ok: bool) -> None:
        existing = {tuple(v) for v, _ in self.catalog.partitions(table)}
        if not exists_ok:
            for values, _ in specs:
                if tuple(values) in existing:
                    raise QueryFailed(
                        "ALREADY_EXISTS",
                        f"Partition already exists: {spec_text(table.partition_keys, values)}",
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

    def msck_repair(self, table: Table) -> tuple[str, list[str]]:
        keys = [k for k, _ in table.partition_keys]
        if not keys:
            return "", []
        bucket, prefix = split_s3(table.location)
        prefix = as_prefix(prefix)
        found: dict[tuple[str, ...], str] = {}
        for obj in list_objects(self.s3, bucket, prefix):
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
        names = [f"{table.name}:{spec_text(table.partition_keys, v, '/')}" for v, _ in new]
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
                projected_partitions(table)
                if table.parameters.get("projection.enabled", "").lower() == "true"
                else self.catalog.partitions(table)
            )
            return "partition", [spec_text(table.partition_keys, v, "/") for v, _ in partitions]
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
