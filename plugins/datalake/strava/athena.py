"""An AthenaOperator whose ClientRequestToken is derived from the run, so a retry never runs twice.

Athena treats a repeated ``StartQueryExecution`` with the same token as the same query: a task that
is retried after it started its query (worker lost, timeout) picks up that query instead of starting
a second one. The token is ``sha256(dag_id / task_id / run_id / map_index)`` (64 hex characters,
within Athena's 32..128).
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow.providers.amazon.aws.operators.athena import AthenaOperator


def request_token(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    return hashlib.sha256(f"{dag_id}/{task_id}/{run_id}/{map_index}".encode()).hexdigest()


class IdempotentAthenaOperator(AthenaOperator):
    """:class:`AthenaOperator` with a deterministic ``client_request_token`` per task and run."""

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        self.client_request_token = request_token(
            ti.dag_id, ti.task_id, context["run_id"], getattr(ti, "map_index", -1)
        )
        return super().execute(context)
