"""How the Strava objects other than the listings are encoded in the lake, one way for all.

A raw answer (a detailed activity, a piece of gear) is compact JSON, gzipped with no timestamp, so the
same answer is the same bytes (and ETag) on every write. A table object (a day of a detail table, the
gear table) is one Snappy Parquet file of the table's columns and Arrow schema.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.strava.schema import to_record_batch

GZIP = "application/gzip"


def gzip_json(document: Any) -> bytes:
    return gzip.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), mtime=0)


def read_gzip_json(body: bytes) -> Any:
    return json.loads(gzip.decompress(body))


def parquet(rows: list[dict[str, Any]], columns: Sequence[Any], schema: pa.Schema) -> bytes:
    buffer = io.BytesIO()
    table = pa.Table.from_batches([to_record_batch(rows, columns, schema)], schema=schema)
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def read_parquet(body: bytes) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(body)).to_pylist()
