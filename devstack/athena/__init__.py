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
  CSV keys need), ``length(to_utf8(s))`` counts bytes, the session time zone is UTC, unnamed columns are
  ``_col0, _col1, ...``.
- ``LocalGetQueryReads`` (no Athena action: ``X-Amz-Target: AmazonAthena.LocalGetQueryReads``, body
  ``{"QueryExecutionId": ...}``) tells what a finished query read: each table, its columns, the partitions
  left after pruning and the bytes counted, so a test can check that a query reads only what it should.
- Results go to ``<OutputLocation>/<QueryExecutionId>.csv`` (+ ``.csv.metadata``, JSON column info here)
  for SELECT and ``.txt`` for DDL; failures end in FAILED with a Trino-style ``StateChangeReason``.

Its parts: :mod:`.service` (the API actions, executions, worker threads), :mod:`.ddl`, :mod:`.translate`
(Trino to DuckDB, partition pruning), :mod:`.catalog` (Glue), :mod:`.projection` (partition projection),
:mod:`.storage` (S3 access, bytes scanned), :mod:`.reader` (data files to Arrow), :mod:`.results`
(types, result files, GetQueryResults pages) and :mod:`.errors`.

It is development tooling: one process, everything in memory, no security model.
"""

from devstack.athena.errors import QueryFailed
from devstack.athena.service import LocalAthena

__all__ = ["LocalAthena", "QueryFailed"]
