"""The one AthenaOperator every DAG of the package uses: a retry never pays for a query twice.

Athena treats a repeated ``StartQueryExecution`` with the same ``ClientRequestToken`` as the same
query. The token here is derived from the DAG, run, task, map index and the rendered SQL, so:

- a task retried after it started its query (worker lost, timeout, a dropped answer) picks up that
  query, running or finished, instead of starting a second one;
- when the previous try's query failed or was cancelled, the same token would only hand that failure
  back: the retry then salts the token with its try number and really runs the query again.

It also logs what a person wants to see of each query: where its results are and the bytes it scanned
(what Athena bills).
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.operators.athena import AthenaOperator


def request_token(
    dag_id: str, run_id: str, task_id: str, map_index: int, query: str, attempt: int = 0
) -> str:
    """Athena's ``ClientRequestToken`` (64 hex characters, within Athena's 32..128) for one query."""
    digest = hashlib.sha256()
    for part in (dag_id, run_id, task_id, str(map_index), str(attempt), query):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class IdempotentAthenaOperator(AthenaOperator):
    """:class:`AthenaOperator` with a deterministic ``client_request_token`` and a scanned-bytes log."""

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        ids = (ti.dag_id, ti.run_id, ti.task_id, map_index)
        self.client_request_token = request_token(*ids, self.query)
        if (ti.try_number or 1) > 1 and self._previous_query_failed():
            self.client_request_token = request_token(*ids, self.query, attempt=ti.try_number)
        query_execution_id = super().execute(context)
        if query_execution_id is not None:  # deferred runs log in execute_complete
            self._log_statistics(query_execution_id)
        return query_execution_id

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        query_execution_id = super().execute_complete(context, event)
        self._log_statistics(query_execution_id)
        return query_execution_id

    def _execution_context(self) -> dict[str, str]:
        execution_context = dict(self.query_execution_context or {})
        if self.database:
            execution_context["Database"] = self.database
        if self.catalog:
            execution_context["Catalog"] = self.catalog
        return execution_context

    def _previous_query_failed(self) -> bool:
        """Whether the query the previous try started under this token ended in failure."""
        previous = self.hook.run_query(
            self.query,
            self._execution_context(),
            {**(self.result_configuration or {}), "OutputLocation": self.output_location},
            self.client_request_token,
            self.workgroup,
        )
        failed = self.hook.check_query_status(previous) in AthenaHook.FAILURE_STATES
        if failed:
            self.log.info("The query of the previous try (%s) failed; starting it again", previous)
        else:
            self.log.info("Picking up the query of the previous try (%s)", previous)
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
