"""The AthenaOperator as the inventory DAGs use it: a deterministic ClientRequestToken per attempt."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.athena import AthenaOperator

from datalake.inventory.ddl import request_token


class TokenedAthenaOperator(AthenaOperator):
    """AthenaOperator whose ClientRequestToken is derived from (dag, task, run, try).

    botocore retries a StartQueryExecution whose answer was lost with the same token, and Athena then
    answers with the query already started instead of running a second one. A new try of the task
    (after a failure) gets a new token: the same token would only hand back the failed query.
    """

    def execute(self, context: Any) -> str | None:
        ti = context["ti"]
        self.client_request_token = request_token(ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
        return super().execute(context)
