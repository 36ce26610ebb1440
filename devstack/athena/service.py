"""The Athena API of the local Athena: the query actions, executions and their worker threads.

A query is queued, run on a small pool (DDL through :mod:`.ddl`; SELECT translated by :mod:`.translate`
over the tables :mod:`.reader` reads into Arrow, in DuckDB), and its result written where Athena writes it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot

# sqlglot loads a dialect's module on its first use: two query threads at once met the Athena one
# half-loaded ("name '_TrinoTokenizer' is not defined"), so the dialects load here, before any thread
import sqlglot.dialects.athena
import sqlglot.dialects.duckdb
import sqlglot.dialects.hive
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlglot import exp
from sqlglot.errors import ParseError

from devstack.athena.catalog import CATALOG, Catalog, as_prefix, split_s3
from devstack.athena.ddl import COMMAND, Ddl
from devstack.athena.errors import BadRequest, QueryFailed, line_col
from devstack.athena.reader import Footers, Reader, Source
from devstack.athena.results import Result, ddl_result, page, result_files, to_result
from devstack.athena.storage import ByteCounter, InProcessS3
from devstack.athena.translate import (
    annotate,
    connect,
    engine_error,
    name_unnamed_columns,
    prune_partitions,
    trino_semantics,
)
from devstack.credentials import ACCOUNT_ID, client

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
WORKERS = 2  # queries run at once
MAX_RESULTS = 1000
# StartQueryExecution answers once its query has finished, or after this long with it still running.
# A client polls (the provider's waiter sleeps its whole interval, 2 s here, after a first look at a
# running query), so a query of a few milliseconds would otherwise cost each task that interval; a
# query longer than this is seen running, polled and can be stopped, as on Athena.
ANSWER_WITHIN_S = 0.5


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
    # what it read, per table reference: {"table", "columns", "partitions", "bytes"} (LocalGetQueryReads)
    reads: list[dict[str, Any]] = field(default_factory=list)
    engine_ms: int = 0
    result: Result | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
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
    """Athena's query API over the local endpoint's Glue and S3; see :mod:`devstack.athena`."""

    def __init__(self, endpoint_url: str, region: str, *, in_process: bool = False) -> None:
        """``in_process``: moto serves ``endpoint_url`` from this very process, so objects and catalog
        entries are read from its backends directly (writes still go through the API)."""
        config = Config(retries={"max_attempts": 2}, max_pool_connections=16)
        self.s3 = client("s3", endpoint_url, region=region, config=config)
        self.glue = client("glue", endpoint_url, region=region, config=config)
        self.athena = client("athena", endpoint_url, region=region, config=config)
        self._local: InProcessS3 | None = None
        self._work_groups: Any = None
        glue_backend = None
        if in_process:
            from moto.athena.models import athena_backends
            from moto.glue.models import glue_backends

            self._local = InProcessS3(ACCOUNT_ID)
            glue_backend = glue_backends[ACCOUNT_ID][region]
            self._work_groups = athena_backends[ACCOUNT_ID][region]
        self.catalog = Catalog(self.glue, glue_backend)
        self._footers = Footers()
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
            "LocalGetQueryReads": self._reads,
        }.get(action)
        if handler is None:
            return None  # work groups, data catalogs, named queries: moto
        try:
            return 200, handler(params)
        except BadRequest as error:
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
                self._duckdb = connect()
            return self._duckdb

    # API calls ------------------------------------------------------------------------------------
    def _start(self, params: dict[str, Any]) -> dict[str, Any]:
        query = params.get("QueryString") or ""
        if not query.strip():
            raise BadRequest("QueryString must not be empty")
        token = params.get("ClientRequestToken")
        with self._lock:
            if token and token in self._tokens:
                previous = self._executions[self._tokens[token]]
                if previous.query != query:
                    raise BadRequest("Idempotent parameters do not match the original request")
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
        execution.finished.wait(ANSWER_WITHIN_S)
        return {"QueryExecutionId": execution.id}

    def _output_location(self, workgroup: str, requested: dict[str, Any]) -> str:
        if self._work_groups is not None:
            found = self._work_groups.get_work_group(workgroup)
            if found is None:
                raise BadRequest(f"WorkGroup {workgroup} is not found.")
            config = found.get("Configuration") or {}
        else:
            try:
                config = self.athena.get_work_group(WorkGroup=workgroup)["WorkGroup"].get("Configuration", {})
            except ClientError:
                raise BadRequest(f"WorkGroup {workgroup} is not found.") from None
        from_workgroup = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        location = from_workgroup if config.get("EnforceWorkGroupConfiguration") and from_workgroup else None
        location = location or requested.get("OutputLocation") or from_workgroup
        if not location:
            raise BadRequest(
                "No output location provided. An output location is required either through the Workgroup "
                "result configuration setting or as an API input."
            )
        if not location.startswith("s3://"):
            raise BadRequest(f"Invalid output location: {location}")
        return location

    def _execution(self, execution_id: str | None) -> _Execution:
        with self._lock:
            execution = self._executions.get(execution_id or "")
        if execution is None:
            raise BadRequest(f"QueryExecution {execution_id} was not found")
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

    def _reads(self, params: dict[str, Any]) -> dict[str, Any]:
        """Not an Athena action: what a finished query read, per table reference (its table, the columns
        and the partitions after pruning, the bytes counted in DataScannedInBytes), for tests and
        benchmarks that check a query reads only what it should."""
        execution = self._execution(params.get("QueryExecutionId"))
        if execution.state in (QUEUED, RUNNING):
            raise BadRequest(f"Query has not yet finished. Current state: {execution.state}")
        return {"QueryExecutionId": execution.id, "Reads": execution.reads}

    def _results(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(params.get("QueryExecutionId"))
        if execution.state in (QUEUED, RUNNING):
            raise BadRequest(f"Query has not yet finished. Current state: {execution.state}")
        if execution.state != SUCCEEDED or execution.result is None:
            raise BadRequest(
                f"Query did not finish successfully. Final query state: {execution.state}\n{execution.reason}"
            )
        result = execution.result
        size = int(params.get("MaxResults") or MAX_RESULTS)
        if not 1 <= size <= MAX_RESULTS:
            raise BadRequest(f"MaxResults must be between 1 and {MAX_RESULTS}")
        try:
            start = int(params.get("NextToken") or 0)
        except ValueError:
            raise BadRequest("Invalid NextToken") from None
        return page(result, start, size)

    # execution ------------------------------------------------------------------------------------
    def _finish(self, execution: _Execution, state: str, reason: str = "") -> None:
        if execution.state in (SUCCEEDED, FAILED, CANCELLED):
            return
        execution.state = state
        execution.reason = reason
        execution.completed = time.time()
        execution.finished.set()

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

    def _execute(self, execution: _Execution) -> Result:
        sql = execution.query.strip().rstrip(";").strip()
        if COMMAND.match(sql):  # statements sqlglot only knows as opaque commands
            execution.statement_type = "DDL"
            return ddl_result(*Ddl(self.catalog, self.s3, execution.database).run(sql, None))
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
        return ddl_result(*Ddl(self.catalog, self.s3, execution.database).run(sql, tree))

    def _select(self, execution: _Execution, sql: str, tree: exp.Expression) -> Result:
        placeholders = list(tree.find_all(exp.Placeholder))
        if len(placeholders) != len(execution.parameters):
            raise QueryFailed(
                "INVALID_PARAMETER_USAGE",
                f"Incorrect number of parameters: expected {len(placeholders)} "
                f"but found {len(execution.parameters)}",
            )
        for node, value in zip(placeholders, execution.parameters, strict=True):
            node.replace(sqlglot.parse_one(value, read="athena"))
        name_unnamed_columns(tree)
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        referenced = {c.name.lower() for c in tree.find_all(exp.Column) if c.name}
        star = any(not isinstance(s.parent, exp.Count) for s in tree.find_all(exp.Star))
        counter = ByteCounter()
        reader = Reader(self.s3, counter, execution.cancel.is_set, self._local, self._footers)
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
                table = self.catalog.table(database, name, line_col(sql, first.meta.get("start")))
                all_columns = table.columns + table.partition_keys
                needed = [c for c, _ in all_columns if star or c in referenced] or [all_columns[0][0]]
                partitions = prune_partitions(self.catalog, con, table, node)
                before = counter.total
                data = reader.read(Source(table, needed, partitions))
                execution.reads.append(
                    {
                        "table": f"{database}.{name}",
                        "columns": needed,
                        "partitions": [values for values, _ in partitions],
                        "bytes": counter.total - before,
                    }
                )
                view = f"__src{i}"
                con.register(view, data)
                schema[view] = {c: t for c, t in all_columns if c in needed}
                alias = node.alias or name
                node.replace(
                    exp.Table(
                        this=exp.to_identifier(view), alias=exp.TableAlias(this=exp.to_identifier(alias))
                    )
                )
            tree = annotate(tree, schema)
            duck_sql = trino_semantics(tree).sql(dialect="duckdb")
            log.debug("DuckDB SQL: %s", duck_sql)
            try:
                relation = con.sql(duck_sql)
                arrow = relation.to_arrow_table() if relation is not None else pa.table({})
            except duckdb.Error as error:
                if execution.cancel.is_set():
                    raise QueryFailed("USER_CANCELLED", "Query was cancelled by user") from None
                raise engine_error(error) from None
        finally:
            con.close()
        execution.scanned = counter.total
        return to_result(arrow)

    def _put(self, bucket: str, key: str, body: bytes) -> None:
        if self._local is not None:
            self._local.put(bucket, key, body)
        else:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _write_result(self, execution: _Execution, result: Result) -> None:
        bucket, prefix = split_s3(execution.output)
        key = f"{as_prefix(prefix)}{execution.id}"
        try:
            for suffix, body in result_files(result, execution.statement_type).items():
                self._put(bucket, f"{key}{suffix}", body)
        except ClientError as error:
            raise QueryFailed(
                "HIVE_FILESYSTEM_ERROR", f"Unable to write query results to {execution.output}: {error}"
            ) from None
