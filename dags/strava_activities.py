"""
### Strava activities → S3 data lake → Athena

Daily, for the data interval `[data_interval_start, data_interval_end)` (UTC), this DAG lists the
athlete's activities that *started* in that interval and lands them twice:

- raw: `s3://<lake>/raw/strava/activities/dt=YYYY-MM-DD/activities.jsonl.gz` (every field Strava sent)
- curated: `s3://<lake>/curated/strava/activities/dt=YYYY-MM-DD/activities.parquet` (typed, units in the
  column names), the Athena table `<strava.database>.<strava.table>` partitioned by `dt`.

Tasks: `refresh_token` (refreshes the access token only when it expires within an hour, writing whatever
Strava returns back to the `strava_default` connection *before* it is used) → `extract_activities`
(streams the pages; rate limits, retries, atomic publish) → `create_database` → `create_table` →
`add_partition`, which publishes the `strava_activities` Asset.

**Start date**: `strava.start_date` in `include/datalake.yaml` (the first interval). **Schedule**:
`strava.schedule`, a `CronDataIntervalTimetable` in UTC (04:00 extracts the previous day).
**Backfill** a year: `airflow backfill create --dag-id strava_activities --from-date 2025-01-01
--to-date 2026-01-01 --max-active-runs 1` (a few calls per day, well inside the default rate limits).
**Reads** the Strava API through the `strava_default` connection; **writes** the lake bucket
(`lake.bucket`), Athena results under `athena.results_prefix/strava_activities/<ds>/`, the Glue catalogue.

**When it fails** (one alert per failure, see `alerts:` in `include/datalake.yaml`); every task is
idempotent per interval, so once the cause is fixed, *clear* the failed task and the run finishes:
- `refresh_token`, "re-authorise": the refresh token is invalid or revoked (fails at once, no retries).
  Re-authorise the app with the scope `activity:read_all`: open
  `https://www.strava.com/oauth/authorize?client_id=<CLIENT_ID>&response_type=code&redirect_uri=http://localhost/exchange_token&approval_prompt=force&scope=read,activity:read_all`,
  approve, exchange the `code` of the redirect with `POST https://www.strava.com/oauth/token`
  (`grant_type=authorization_code`, `client_id`, `client_secret`, `code`), put the answer's
  `refresh_token` into the connection's *Refresh token* field, and clear the task.
- `refresh_token`, "cannot update": the connection lives where the pipeline cannot write a rotated
  token (an `AIRFLOW_CONN_*` variable): move it to the metadata DB or AWS Secrets Manager.
- `extract_activities`, rate limits: the 15-minute limit retries at the next quarter hour; the daily
  limit stops the run: clear it after midnight UTC. The usage Strava last reported is kept in the
  Variable `datalake_strava_rate_limits` (numbers only), so the next run starts from it.
- Athena tasks: the log has Athena's reason (workgroup, permissions, results bucket).
"""

from __future__ import annotations

from datetime import timedelta

# Named here so that the dag-processor imports them once, before it forks a parser for this file
# ([dag_processor] parsing_pre_import_modules): boto3, and the s3:// URI handler Airflow loads for the
# first Asset, then stay out of every parse.
import airflow.providers.amazon.aws.assets.s3
import airflow.providers.amazon.aws.operators.athena  # noqa: F401
import pendulum
from airflow.sdk import (
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    chain,
    dag,
    task,
)

from datalake.assets import strava_activities_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import SQL_DIR, get_config
from datalake.dag_defaults import TAGS, dag_failure_callbacks, default_args
from datalake.strava import tasks as strava_tasks
from datalake.strava.errors import StravaRateLimited
from datalake.strava.layout import curated_location

config = get_config()
athena_timeout = timedelta(minutes=config.athena.query_timeout_minutes)
sql_params = {
    "database": config.strava.database,
    "table": config.strava.table,
    "location": curated_location(config.lake.bucket),
}

# The 15-minute rate limit is over by the next quarter hour: retry then, not after the default backoff.
rate_limit_policy = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception=StravaRateLimited, action=RetryAction.RETRY, retry_delay=timedelta(minutes=15))
    ]
)


@dag(
    dag_id="strava_activities",
    schedule=CronDataIntervalTimetable(config.strava.schedule, timezone="UTC"),
    start_date=pendulum.parse(config.strava.start_date, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=sorted(TAGS & {"strava", "athena", "datalake"}),
    template_searchpath=[str(SQL_DIR)],
)
def strava_activities() -> None:
    # One refresh at a time across all runs (a backfill next to the daily run): Strava rotates the
    # refresh token, so two refreshes racing would make one of them present a token that just died.
    @task(execution_timeout=timedelta(minutes=5), max_active_tis_per_dag=1)
    def refresh_token() -> dict:
        """Refresh the Strava access token when needed and write it back to the connection first."""
        return strava_tasks.refresh_token()

    @task(execution_timeout=strava_tasks.EXTRACT_TIMEOUT, retry_policy=rate_limit_policy)
    def extract_activities(data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        """Stream the interval's activities to raw JSON lines and Parquet, published atomically."""
        return strava_tasks.extract_activities(data_interval_start, data_interval_end, run_id)

    athena = {
        "database": config.strava.database,
        "workgroup": config.athena.workgroup,
        "aws_conn_id": config.aws_conn_id,
        "region_name": config.region,
        "output_location": config.athena.output_location("strava_activities", "{{ ds }}"),
        "execution_timeout": athena_timeout,
        "sleep_time": 2,
        "params": sql_params,
    }
    create_database = IdempotentAthenaOperator(
        task_id="create_database",
        query="strava/create_database.sql",
        doc_md="Create the Athena database if it does not exist (`include/sql/strava/create_database.sql`).",
        **{**athena, "database": "default"},
    )
    create_table = IdempotentAthenaOperator(
        task_id="create_table",
        query="strava/create_table.sql",
        doc_md="Create the Parquet table, partitioned by `dt`, if it does not exist.",
        **athena,
    )
    add_partition = IdempotentAthenaOperator(
        task_id="add_partition",
        query="strava/add_partition.sql",
        outlets=[strava_activities_asset(config)],
        doc_md="Register the interval's partition; publishes the strava_activities Asset.",
        **athena,
    )

    chain(refresh_token(), extract_activities(), create_database, create_table, add_partition)


strava_activities()
