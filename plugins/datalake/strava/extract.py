"""Extract one data interval of Strava activities into the lake, streaming and atomically.

For ``[start, end)`` (activity start time, UTC) the pages are streamed, one at a time, into two local
files: the raw answers as gzipped JSON lines (every field Strava sent) and a typed Parquet file
(:mod:`datalake.strava.schema`). Only then are they published: uploaded to a temporary key outside the
table's location, copied to the final deterministic key, and the temporary key is deleted. Readers only
ever look at final keys, so a run that fails half-way leaves nothing partial there, and a rerun of the
same interval replaces its own objects (never duplicates rows).

Keys (``dt`` = the interval start's date, UTC)::

    s3://<lake>/raw/strava/activities/dt=YYYY-MM-DD/activities.jsonl.gz
    s3://<lake>/curated/strava/activities/dt=YYYY-MM-DD/activities.parquet
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.strava.client import PER_PAGE, StravaClient
from datalake.strava.layout import (
    PARQUET_NAME,
    RAW_NAME,
    TMP_PREFIX,
    curated_key,
    partition,
    raw_key,
)
from datalake.strava.schema import SCHEMA, to_record_batch, to_row

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 10_000  # rows per Parquet row group (the bound on buffered rows)


@dataclass(frozen=True)
class ExtractResult:
    dt: str
    rows: int
    pages: int
    api_calls: int
    raw_key: str
    parquet_key: str
    duplicates_skipped: int
    outside_interval_skipped: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("interval bounds must be timezone-aware")
    return int(moment.timestamp())


def write_interval_files(
    client: StravaClient,
    start: datetime,
    end: datetime,
    raw_path: Path,
    parquet_path: Path,
    *,
    per_page: int = PER_PAGE,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> tuple[int, int, int, int]:
    """Stream the interval's pages into the two local files; returns (rows, pages, dupes, outside)."""
    lo, hi = _epoch(start), _epoch(end)
    seen: set[int] = set()
    rows = pages = dupes = outside = 0
    # Each page becomes a columnar record batch at once (compact); batches are written as one row group
    # once they hold ``row_group_rows`` rows. Memory is bounded by one row group, not by the interval.
    batches: list[pa.RecordBatch] = []
    buffered = 0
    with (
        open(raw_path, "wb") as raw_file,
        # mtime=0: the same activities give byte-identical objects on a rerun
        gzip.GzipFile(fileobj=raw_file, mode="wb", compresslevel=6, mtime=0) as raw_gz,
        io.TextIOWrapper(raw_gz, encoding="utf-8") as raw,
        pq.ParquetWriter(parquet_path, SCHEMA, compression="snappy") as writer,
    ):
        for page in client.activity_pages(after=lo - 1, before=hi, per_page=per_page):
            pages += 1
            kept: list[dict[str, Any]] = []
            for activity in page:
                row = to_row(activity)  # validates first: a bad field fails before anything is kept
                started = int(row["start_date"].timestamp())
                if not lo <= started < hi:
                    outside += 1
                    continue
                if row["id"] in seen:
                    dupes += 1
                    continue
                seen.add(row["id"])
                raw.write(json.dumps(activity, separators=(",", ":"), ensure_ascii=False))
                raw.write("\n")
                kept.append(row)
            if kept:
                batches.append(to_record_batch(kept))
                buffered += len(kept)
                rows += len(kept)
            if buffered >= row_group_rows:
                writer.write_table(pa.Table.from_batches(batches, schema=SCHEMA), row_group_size=buffered)
                batches, buffered = [], 0
        if batches or rows == 0:
            writer.write_table(pa.Table.from_batches(batches, schema=SCHEMA))
    return rows, pages, dupes, outside


def publish(s3: Any, bucket: str, local: Path, final_key: str, tmp_key: str, content_type: str) -> None:
    """Upload to ``tmp_key``, copy to ``final_key`` (one atomic PUT for readers), delete ``tmp_key``."""
    s3.upload_file(str(local), bucket, tmp_key, ExtraArgs={"ContentType": content_type})
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=final_key,
            CopySource={"Bucket": bucket, "Key": tmp_key},
            ContentType=content_type,
            MetadataDirective="REPLACE",
        )
    finally:
        s3.delete_object(Bucket=bucket, Key=tmp_key)


def extract_interval(
    client: StravaClient,
    s3: Any,
    bucket: str,
    start: datetime,
    end: datetime,
    *,
    run_token: str,
    per_page: int = PER_PAGE,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ExtractResult:
    """Extract ``[start, end)`` into the lake (see module doc). ``run_token`` names the temporary keys."""
    dt = partition(start)
    with tempfile.TemporaryDirectory(prefix="strava-extract-") as tmp:
        raw_path, parquet_path = Path(tmp) / RAW_NAME, Path(tmp) / PARQUET_NAME
        rows, pages, dupes, outside = write_interval_files(
            client, start, end, raw_path, parquet_path, per_page=per_page, row_group_rows=row_group_rows
        )
        tmp_base = f"{TMP_PREFIX}/{run_token}/dt={dt}"
        publish(s3, bucket, raw_path, raw_key(start), f"{tmp_base}/{RAW_NAME}", "application/gzip")
        publish(
            s3,
            bucket,
            parquet_path,
            curated_key(start),
            f"{tmp_base}/{PARQUET_NAME}",
            "application/vnd.apache.parquet",
        )
    result = ExtractResult(
        dt=dt,
        rows=rows,
        pages=pages,
        api_calls=client.calls,
        raw_key=raw_key(start),
        parquet_key=curated_key(start),
        duplicates_skipped=dupes,
        outside_interval_skipped=outside,
    )
    log.info(
        "Strava %s: %d activities in %d pages (%d API calls) -> s3://%s/%s and s3://%s/%s",
        dt,
        rows,
        pages,
        client.calls,
        bucket,
        result.raw_key,
        bucket,
        result.parquet_key,
    )
    return result
