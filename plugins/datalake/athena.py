"""The one AthenaOperator every DAG of the package uses: a retry never pays for a query twice.

Athena treats a repeated ``StartQueryExecution`` with the same ``ClientRequestToken`` as the same
query. The token here is derived from the DAG, run, task, map index and the rendered SQL, so:

- a task retried after it started its query (worker lost, timeout, a dropped answer) picks up that
  query, running or finished, instead of starting a second one;
- when the previous try's query failed or was cancelled, the same token would only hand that failure
  back: the retry then takes the next token of the query's chain (the same ids, salted 1, 2, ...) and
  really runs the query again. A later try walks the chain from its start to the first query that did
  not fail, so a run cleared and run again (a second backfill) finds the very queries, and result
  objects, of its first pass instead of starting new ones.

A query that Athena marks as one a retry cannot fix (``AthenaError.Retryable`` false in
GetQueryExecution, or, without that field, an ``ErrorCategory`` of USER: a missing schema or table, a
syntax error, a permission) fails its task at once, without retries, with Athena's reason; any other
failure (a system error, a cancelled query, a time-out) is retried as usual.

It also logs what a person wants to see of each query: where its results are and the bytes it scanned
(what Athena bills), and it holds the defaults every Athena task of the package shares (the AWS
connection, the work group, the time limit, the polling interval), so a DAG names only the query, its
database and where its results go.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from datalake import aws
from datalake.config import DatalakeConfig, get_config

# Between two looks at a running query. GetQueryExecution
# is free; a short interval keeps a quick DDL statement from holding its task for half a minute.
POLL_SECONDS = 2

# AthenaError.ErrorCategory of GetQueryExecution
ERROR_CATEGORIES = {1: "SYSTEM", 2: "USER", 3: "OTHER"}
USER_ERROR = 2


def request_token(
    dag_id: str, run_id: str, task_id: str, map_index: int, query: str, attempt: int = 0
) -> str:
    """Athena's ``ClientRequestToken`` (64 hex characters, within Athena's 32..128) for one query."""
    digest = hashlib.sha256()
    for part in (dag_id, run_id, task_id, str(map_index), str(attempt), query):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class _AthenaHook(AthenaHook):
    """The provider's hook, finding the operator it names in its client's user agent without
    ``inspect.stack()``. That call reads the source of every frame on the stack and, in a task process
    just forked, maps the file of each module imported since the fork: about a fifth of what an
    Athena task cost the embedded stack's workers. A walk over the frames finds the same operator (the
    innermost ``execute``)."""

    def _get_caller(self, target_function_name: str = "execute") -> str:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == target_function_name and "self" in frame.f_locals:
                return type(frame.f_locals["self"]).__name__
            frame = frame.f_back
        return "Unknown"


class IdempotentAthenaOperator(AthenaOperator):
    """:class:`AthenaOperator` with a deterministic ``client_request_token``, a scanned-bytes log and the
    package's defaults: connection and region, ``athena.workgroup``, ``athena.query_timeout_minutes`` as
    the ``execution_timeout``, :data:`POLL_SECONDS`. Any of them can still be passed explicitly."""

    aws_hook_class = _AthenaHook

    def __init__(
        self, *, query: str, output_location: str, config: DatalakeConfig | None = None, **kwargs: Any
    ) -> None:
        config = config or get_config()
        defaults = {
            **aws.connection(config),
            "workgroup": config.athena.workgroup,
            "execution_timeout": timedelta(minutes=config.athena.query_timeout_minutes),
            "sleep_time": POLL_SECONDS,
        }
        super().__init__(query=query, output_location=output_location, **{**defaults, **kwargs})

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        ids = (ti.dag_id, ti.run_id, ti.task_id, map_index)
        self.client_request_token = self._chain_token(ids, ti.try_number or 1)
        try:
            query_execution_id = super().execute(context)
        except AirflowException as error:
            raise self._failure(self.query_execution_id, error) from None
        self._log_statistics(query_execution_id)
        return query_execution_id

    def _failure(self, query_execution_id: str | None, error: AirflowException) -> AirflowException:
        """The error a failed query ends its task with: Athena's reason, and no retry when Athena says a
        retry cannot help. ``error`` (the provider's) when there is no failed query to tell more."""
        if not query_execution_id:
            return error
        status = self.hook.get_query_info(query_execution_id).get("QueryExecution", {}).get("Status", {})
        if status.get("State") != "FAILED":
            return error
        athena_error = status.get("AthenaError") or {}
        category = athena_error.get("ErrorCategory")
        reason = status.get("StateChangeReason") or athena_error.get("ErrorMessage") or "no reason given"
        message = f"Athena query {query_execution_id} failed: {reason}"
        retryable = athena_error.get("Retryable")
        if retryable is False or (retryable is None and category == USER_ERROR):
            kind = ERROR_CATEGORIES.get(category, f"category {category}")
            return AirflowFailException(
                f"{message} (a {kind} error that Athena marks not retryable: no retry; clear the task "
                "once its cause is fixed)"
            )
        return AirflowException(message)

    def _execution_context(self) -> dict[str, str]:
        execution_context = dict(self.query_execution_context or {})
        if self.database:
            execution_context["Database"] = self.database
        if self.catalog:
            execution_context["Catalog"] = self.catalog
        return execution_context

    def _chain_token(self, ids: tuple[str, str, str, int], try_number: int) -> str:
        """The token of this try's query: the first of the chain whose query has not failed.

        A first try takes the chain's first token. Each failed query moves a later try one token on;
        ``try_number`` bounds the walk (every failed query took one try).
        """
        token = request_token(*ids, self.query)
        for attempt in range(1, try_number):
            if not self._query_failed(token):
                return token
            token = request_token(*ids, self.query, attempt=attempt)
        return token

    def _query_failed(self, token: str) -> bool:
        """Whether the query an earlier try started under ``token`` ended in failure."""
        previous = self.hook.run_query(
            self.query,
            self._execution_context(),
            {**(self.result_configuration or {}), "OutputLocation": self.output_location},
            token,
            self.workgroup,
        )
        failed = self.hook.check_query_status(previous) in AthenaHook.FAILURE_STATES
        if failed:
            self.log.info("An earlier try's query (%s) failed; running the query again", previous)
        else:
            self.log.info("Picking up the query an earlier try started (%s)", previous)
        return failed

    def _log_statistics(self, query_execution_id: str) -> None:
        execution = self.hook.get_query_info(query_execution_id).get("QueryExecution", {})
        scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
        self.log.info(
            "Athena query %s finished: %s bytes scanned, results in %s",
            query_execution_id,
            scanned,
            execution.get("ResultConfiguration", {}).get("OutputLocation", self.output_location),
        )
