"""The stack's S3 as the engine reads it: listings, ranged GETs over HTTP, or moto's store in this process,
with the bytes read counted for ``DataScannedInBytes``."""

from __future__ import annotations

import io
import mmap
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError

from devstack.athena.errors import QueryFailed


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except ClientError as error:
        raise QueryFailed("HIVE_FILESYSTEM_ERROR", f"Cannot list s3://{bucket}/{prefix}: {error}") from None


def is_data_key(key: str, prefix: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", ".")) and not key.endswith("_$folder$") and key != prefix


class ByteCounter:
    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.total += n


class S3RangeFile(io.RawIOBase):
    """A seekable file over one S3 object that fetches only the byte ranges read (ranged GETs).

    Small blocks (footers) are kept, so a range read twice is fetched and counted once.
    """

    _KEEP = 1 << 20

    _TAIL = 64 << 10

    def __init__(self, s3: Any, bucket: str, key: str, counter: ByteCounter) -> None:
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


class InProcessS3:
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
