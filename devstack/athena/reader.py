"""Reading a table's data files into Arrow: Parquet (only the projected column chunks), ORC, JSON lines,
delimited text, through symlink manifests; columns conformed to the types the table declares."""

from __future__ import annotations

import gzip
import io
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from devstack.athena.catalog import (
    JSON_SERDES,
    OPENCSV_SERDE,
    ORC_SERDE,
    PARQUET_SERDE,
    SYMLINK_INPUT,
    Table,
    as_prefix,
    split_s3,
)
from devstack.athena.errors import QueryFailed
from devstack.athena.storage import ByteCounter, InProcessS3, S3RangeFile, is_data_key, list_objects

FILE_READERS = 4  # files one query reads at once


class Footers:
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
class Source:
    """What to read of one table reference: files per partition, columns, declared types."""

    table: Table
    columns: list[str]
    partitions: list[tuple[list[str], str]]


class Reader:
    """Reads tables into Arrow: from moto's backend when it is in this process, else with boto3."""

    def __init__(
        self,
        s3: Any,
        counter: ByteCounter,
        cancelled: Callable[[], bool],
        local: InProcessS3 | None = None,
        footers: Footers | None = None,
    ) -> None:
        self.s3 = s3
        self.counter = counter
        self.cancelled = cancelled
        self.local = local
        self.footers = footers or Footers()

    def _list(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        if self.local is not None:
            return self.local.list(bucket, prefix)
        return list(list_objects(self.s3, bucket, prefix))

    def _get(self, bucket: str, key: str) -> bytes:
        if self.local is not None:
            return self.local.get(bucket, key)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def files(
        self, table: Table, partitions: list[tuple[list[str], str]]
    ) -> list[tuple[list[str], str, str, int | None]]:
        """(partition values, bucket, key, size) of every data file, following symlink manifests."""
        listing: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if len(partitions) > 20:  # one listing of the table prefix beats one per partition
            bucket, prefix = split_s3(table.location)
            listing[(bucket, as_prefix(prefix))] = self._list(bucket, as_prefix(prefix))
        out = []
        for values, location in partitions:
            bucket, prefix = split_s3(location)
            prefix = as_prefix(prefix)
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
                if not is_data_key(obj["Key"], prefix):
                    continue
                if table.sd.get("InputFormat") == SYMLINK_INPUT:
                    for target in self._symlink_targets(bucket, obj["Key"]):
                        out.append((values, *target))
                else:
                    out.append((values, bucket, obj["Key"], obj["Size"]))
        return out

    def _symlink_targets(self, bucket: str, key: str) -> Iterator[tuple[str, str, int | None]]:
        """The data files a symlink manifest lists (sizes unknown until read)."""
        text = self._get(bucket, key).decode()
        for line in filter(None, (s.strip() for s in text.splitlines())):
            yield (*split_s3(line), None)

    def read(self, source: Source) -> pa.Table:
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

    def _read_file(self, table: Table, bucket: str, key: str, columns: list[str]) -> pa.Table:
        serde = table.sd.get("SerdeInfo", {})
        library = serde.get("SerializationLibrary", "")
        params = serde.get("Parameters", {}) or {}
        if library == PARQUET_SERDE and self.local is not None:
            return self._read_parquet_buffer(bucket, key, columns)
        if library == PARQUET_SERDE:
            # scanned bytes are counted as in process (footer + projected chunks), not as fetched
            with S3RangeFile(self.s3, bucket, key, ByteCounter()) as raw:
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
        if library == ORC_SERDE:
            import pyarrow.orc as pa_orc

            orc = pa_orc.ORCFile(io.BytesIO(body))
            present = {n.lower(): n for n in orc.schema.names}
            result = orc.read(columns=[present[c] for c in columns if c in present])
            return result.rename_columns([n.lower() for n in result.column_names])
        if library in JSON_SERDES:
            lines = [line for line in body.splitlines() if line.strip()]
            if not lines:
                return pa.table({})
            result = pa_json.read_json(io.BytesIO(b"\n".join(lines)))
            return result.rename_columns([n.lower() for n in result.column_names])
        # delimited text: OpenCSVSerde (quoted) or LazySimpleSerDe (plain delimiter)
        names = [n for n, _ in table.columns]
        skip = int(table.parameters.get("skip.header.line.count", "0"))
        if library == OPENCSV_SERDE:
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
