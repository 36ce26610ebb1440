"""The Glue catalogue as the engine reads it: tables, partitions, storage formats and S3 locations.

Reads go straight to moto's backend when moto runs in this process; DDL (:mod:`.ddl`) writes through
the Glue API.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from devstack.athena.errors import QueryFailed

CATALOG = "AwsDataCatalog"

# Hive storage formats, as Athena writes them into Glue.
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
ORC_SERDE = "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
OPENCSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
_LAZY_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
JSON_SERDES = ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe")
SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
_TEXT_FORMATS = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
STORED_AS = {
    "PARQUET": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        PARQUET_SERDE,
    ),
    "ORC": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
        ORC_SERDE,
    ),
    "TEXTFILE": (*_TEXT_FORMATS, _LAZY_SERDE),
}


def split_s3(uri: str) -> tuple[str, str]:
    match = re.match(r"s3a?n?://([^/]+)/?(.*)$", uri.strip())
    if not match:
        raise QueryFailed("HIVE_METASTORE_ERROR", f"Invalid S3 location: {uri!r}")
    return match.group(1), match.group(2)


def as_prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def spec_text(keys: list[tuple[str, str]] | list[str], values: list[str], sep: str = ", ") -> str:
    names = [k if isinstance(k, str) else k[0] for k in keys]
    return sep.join(f"{k}={v}" for k, v in zip(names, values, strict=True))


def partition_path(location: str, keys: list[str], values: list[str]) -> str:
    return as_prefix(location) + "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) + "/"


@dataclass
class Table:
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


class Catalog:
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

    def table(self, database: str, name: str, where: str = "line 1:1") -> Table:
        if not self.has_database(database):
            raise QueryFailed("SCHEMA_NOT_FOUND", f"{where}: Schema '{database}' does not exist")
        if self.backend is not None:
            found = self.backend.databases[database].tables.get(name)
            if found is None:
                raise QueryFailed(
                    "TABLE_NOT_FOUND", f"{where}: Table '{CATALOG.lower()}.{database}.{name}' does not exist"
                )
            return Table(database, name, copy.deepcopy(found.as_dict()))
        try:
            glue_table = self.glue.get_table(DatabaseName=database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            raise QueryFailed(
                "TABLE_NOT_FOUND", f"{where}: Table '{CATALOG.lower()}.{database}.{name}' does not exist"
            ) from None
        return Table(database, name, glue_table)

    def tables(self, database: str) -> list[str]:
        names = []
        for page in self.glue.get_paginator("get_tables").paginate(DatabaseName=database):
            names += [t["Name"] for t in page["TableList"]]
        return sorted(names)

    def partitions(self, table: Table) -> list[tuple[list[str], str]]:
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
