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

**First day**: `strava.start_date` in `include/datalake.yaml`; a run for an earlier day fails at once
(`refresh_token`) naming that key. **Schedule**: `strava.schedule`, a `CronDataIntervalTimetable` in UTC
(04:00 extracts the previous day).
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

from airflow.sdk import CronDataIntervalTimetable, chain, dag, task

from datalake.assets import strava_activities_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import get_config
from datalake.dag_defaults import dag_args
from datalake.strava import tasks as strava_tasks

config = get_config()


@dag(
    schedule=CronDataIntervalTimetable(config.strava.schedule, timezone="UTC"),
    **dag_args(
        "strava_activities",
        description="Strava activities of each day into the lake (raw JSON and Parquet) and Athena",
        doc_md=__doc__,
        tags=("strava", "athena", "datalake"),
        max_active_runs=1,
    ),
)
def strava_activities() -> None:
    # One refresh at a time across all runs (a backfill next to the daily run): Strava rotates the
    # refresh token, so two refreshes racing would make one of them present a token that just died.
    @task(execution_timeout=timedelta(minutes=5), max_active_tis_per_dag=1)
    def refresh_token(data_interval_start=None) -> dict:
        """Refresh the Strava access token when needed and write it back to the connection first."""
        return strava_tasks.refresh_token(data_interval_start)

    @task(execution_timeout=strava_tasks.EXTRACT_TIMEOUT, retry_policy=strava_tasks.RATE_LIMIT_RETRIES)
    def extract_activities(data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        """Stream the interval's activities to raw JSON lines and Parquet, published atomically."""
        return strava_tasks.extract_activities(data_interval_start, data_interval_end, run_id)

    params = strava_tasks.sql_params(config)
    output_location = config.athena.output_location("strava_activities", "{{ ds }}")
    create_database = IdempotentAthenaOperator(
        task_id="create_database",
        query="strava/create_database.sql",
        database="default",
        output_location=output_location,
        params=params,
        doc_md="Create the Athena database if it does not exist (`include/sql/strava/create_database.sql`).",
    )
    create_table = IdempotentAthenaOperator(
        task_id="create_table",
        query="strava/create_table.sql",
        database=config.strava.database,
        output_location=output_location,
        params=params,
        doc_md="Create the Parquet table, partitioned by `dt`, if it does not exist.",
    )
    add_partition = IdempotentAthenaOperator(
        task_id="add_partition",
        query="strava/add_partition.sql",
        database=config.strava.database,
        output_location=output_location,
        params=params,
        outlets=[strava_activities_asset(config)],
        doc_md="Register the interval's partition; publishes the strava_activities Asset.",
    )

    chain(refresh_token(), extract_activities(), create_database, create_table, add_partition)


strava_activities()
