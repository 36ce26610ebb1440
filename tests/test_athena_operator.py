"""The package's Athena operator never pays for a query twice, a run done again finds its own queries, and a
query Athena marks not retryable fails its task at once.

The real operator (the provider's ``AthenaOperator`` underneath) against the local Athena, which runs the
SQL. A task instance is what Airflow hands ``execute``: its ids and try number.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import boto3
import pytest

from datalake.athena import IdempotentAthenaOperator, request_token
from tests.athena import LONG_QUERY, run_sql


@dataclass
class TaskInstance:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    map_index: int = -1


@pytest.fixture
def aws(local_aws: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {"results": f"op-results-{suffix}", "database": f"op_{suffix}"}
    boto3.client("s3").create_bucket(Bucket=names["results"])
    return names


def operator(names: dict[str, str], query: str) -> IdempotentAthenaOperator:
    return IdempotentAthenaOperator(
        task_id="count_rows",
        query=query,
        database=names["database"],
        output_location=f"s3://{names['results']}/count_rows/",
        sleep_time=0.1,
        deferrable=False,
    )


def finish(sql: str, results: str) -> None:
    run_sql(boto3.client("athena"), sql, output_location=f"s3://{results}/setup/")


def executions() -> set[str]:
    athena = boto3.client("athena")
    found: set[str] = set()
    for page in athena.get_paginator("list_query_executions").paginate(WorkGroup="primary"):
        found.update(page["QueryExecutionIds"])
    return found


def test_a_try_after_a_failed_query_runs_it_again_and_a_rerun_finds_that_query(aws):
    from airflow.providers.common.compat.sdk import AirflowException

    database = aws["database"]
    query = f"SELECT count(*) FROM {database}.events"  # noqa: S608 (the test's own names)
    ti = TaskInstance(
        dag_id="op_dag", run_id=f"backfill__{uuid.uuid4().hex[:6]}", task_id="count_rows", try_number=1
    )
    athena = boto3.client("athena")

    # try 1: the table does not exist yet, the query fails (for good: the task is cleared once it exists)
    with pytest.raises(AirflowException):
        operator(aws, query).execute({"ti": ti})
    finish(f"CREATE DATABASE IF NOT EXISTS {database}", aws["results"])
    finish(
        f"CREATE EXTERNAL TABLE {database}.events (id int) STORED AS PARQUET "
        f"LOCATION 's3://{aws['results']}/events/'",
        aws["results"],
    )

    # try 2: the first token only hands back the failure, so the query runs again under the next one
    ti.try_number = 2
    second = operator(aws, query).execute({"ti": ti})
    assert athena.get_query_execution(QueryExecutionId=second)["QueryExecution"]["Status"]["State"] == (
        "SUCCEEDED"
    )
    ids = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
    assert (
        second
        == athena.start_query_execution(
            QueryString=query,
            QueryExecutionContext={"Database": database},
            ResultConfiguration={"OutputLocation": f"s3://{aws['results']}/count_rows/"},
            ClientRequestToken=request_token(*ids, query, attempt=1),
        )["QueryExecutionId"]
    )

    # the run cleared and done again (a second backfill): try 3 picks up that query, starts nothing
    before = executions()
    ti.try_number = 3
    third = operator(aws, query).execute({"ti": ti})
    assert third == second
    assert executions() == before


def task_instance() -> TaskInstance:
    return TaskInstance(
        dag_id="op_dag", run_id=f"manual__{uuid.uuid4().hex[:6]}", task_id="count_rows", try_number=1
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT count(*) FROM {database}.missing", "SCHEMA_NOT_FOUND"),
        ("SELEC 1", "SYNTAX_ERROR"),
    ],
)
def test_a_query_athena_marks_not_retryable_fails_at_once_with_its_reason(aws, query, reason):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(
        AirflowFailException, match=rf"failed: {reason}.*USER error that Athena marks not retryable"
    ):
        operator(aws, query.format(database=aws["database"])).execute({"ti": task_instance()})


def test_a_query_that_ends_without_an_athena_error_is_left_to_the_retries(aws):
    """A cancelled query (a person stopped it, or a time-out did) carries no AthenaError: a retry may do."""
    from airflow.providers.common.compat.sdk import AirflowException
    from airflow.sdk.exceptions import AirflowFailException

    query = LONG_QUERY  # still running when its start is answered (after at most 0.5 s)
    athena = boto3.client("athena")
    for _ in range(3):  # stopped as soon as started; should it finish first all the same, another run
        ti = task_instance()
        started = athena.start_query_execution(
            QueryString=query,
            QueryExecutionContext={"Database": aws["database"]},
            ResultConfiguration={"OutputLocation": f"s3://{aws['results']}/count_rows/"},
            ClientRequestToken=request_token(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, query),
        )["QueryExecutionId"]
        athena.stop_query_execution(QueryExecutionId=started)
        while (status := athena.get_query_execution(QueryExecutionId=started)["QueryExecution"]["Status"])[
            "State"
        ] in ("QUEUED", "RUNNING"):
            time.sleep(0.05)
        if status["State"] == "CANCELLED":
            break
    assert status["State"] == "CANCELLED"
    assert "AthenaError" not in status

    with pytest.raises(AirflowException) as failed:  # the operator picks up that query (same token)
        operator(aws, query).execute({"ti": ti})
    assert "CANCELLED" in str(failed.value)
    assert not isinstance(failed.value, AirflowFailException)


def test_the_user_agent_of_the_operators_client_names_the_operator_that_made_it(aws):
    """The provider tells AWS which operator calls it (``Caller/...`` in the user agent); the package's
    hook finds that name by walking the frames, not with ``inspect.stack()``. A subclass is named as
    itself, as the provider names it."""

    class CountRowsOperator(IdempotentAthenaOperator):
        pass

    for cls in (IdempotentAthenaOperator, CountRowsOperator):
        task = cls(
            task_id="count_rows",
            query="SELECT 1",
            database=aws["database"],
            output_location=f"s3://{aws['results']}/count_rows/",
            sleep_time=0.1,
            deferrable=False,
        )
        task.execute({"ti": task_instance()})

        assert f"Caller/{cls.__name__} " in task.hook.conn.meta.config.user_agent_extra
