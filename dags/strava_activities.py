"""
### Strava activities → S3 data lake → Athena, converging to what Strava shows

Each run lists again the activities that started in its **window**, the last `strava.reconcile_days`
whole UTC days (default 7) before its run, in one paging pass, and rewrites every **day** (the UTC
calendar day of an activity's `start_date`, the table's `dt`) whose content Strava changed since: a day
is a full snapshot of what Strava lists for it, so late uploads appear, deletions disappear and edits
show within the window. With the 04:00 UTC schedule the run on day X+1 lists days X-6 to X: the hours
after midnight are a grace period for watches that sync in the morning. `reconcile_days: 0` lists only
the run's own day. The window never starts before `strava.start_date`.

- curated: `s3://<lake>/curated/strava/activities/dt=YYYY-MM-DD/activities.parquet`, one per day with
  activities, the Athena table `<strava.database>.<strava.table>`. A day that did not change is not
  written (same object, same ETag): a quiet day writes nothing.
- raw: `s3://<lake>/raw/strava/activities/run=<interval start>/activities-<digest>.jsonl.gz`, the
  listing as Strava returned it, kept whenever the run changed a day (history of what Strava said).

**Detailed activities** (`strava.details`): after the listing, each new or changed activity (a
fingerprint of the summary fields its detailed view depends on) is fetched once, `GET
/activities/{id}`, kept raw under `raw/strava/activity_details/dt=.../<id>-<fingerprint>.json.gz`, and
cut into the day tables `activity_details`, `activity_laps`, `activity_splits` and
`activity_best_efforts` (`curated/strava/<table>/dt=YYYY-MM-DD/`, the same days and snapshot rules as
the activities; partition projection, nothing to register), the gear's names into `gear` (fetched once,
again after `strava.gear_refresh_days`), and with `strava.streams` one Parquet file per activity in
`activity_streams`. Detail calls use `strava.details_budget_share` of the rate budget the listing
left; the rest is the **backlog** (`state/strava/details-backlog.json`), which later runs drain, oldest
day first: `extract_activities`' log and XCom (`details.pending`, `details.oldest_pending`) say how many
wait. A description edited without the title, the times, the sport type or the gear is not seen (the
summary does not change): clear the day's run after deleting its raw detail objects to fetch it again.

Tasks: `refresh_token` (refreshes the access token only when it expires within an hour, writing whatever
Strava returns back to the `strava_default` connection *before* it is used) → `extract_activities`
(the listing, rate limits, retries; the days that changed) → `create_database` → `create_table` →
`add_partitions` (registers every day of the window, one statement) → `publish_days` (with details,
each `create_table_<detail table>` runs between `create_database` and it), which publishes
the `strava_activities` Asset with the rewritten days in its extra, `{"days": [...]}`: `daily_summaries`
reports the newest and refreshes the report of each earlier one.

**Which run owns which day.** Every run owns every day of its window, and writes it as Strava lists it
at that moment. Extractions never overlap (one at a time across all runs, backfills included), so the
latest listing is always the latest write: a backfill next to the daily run never brings back a row the
daily run removed, nor loses one it added, and no row is ever in two days (one object per day). A
**backfill of an old day** lists that day and the days of the window before it, and makes them what
Strava shows now; a backfill repeated over the same days writes nothing.

**A day looks wrong** (an activity missing, deleted, or with an old name): if the day is inside the
last `reconcile_days` days, the next scheduled run fixes it. An older day is left alone by the daily
runs: *clear* `extract_activities` of the run whose interval starts on that day (or backfill that day)
and its window, that day and the days before it, becomes what Strava shows now.

**Push events** (with `strava.events_queue_url`): Strava's webhook events reach an SQS queue through
the Lambda of `include/strava_webhook/`, and each batch starts a run of this DAG (run type
*asset_triggered*, no data interval) that re-lists only the days the events touch (a deleted or edited
activity's day from the table, the recent days for an upload) with the same tasks, one extraction at a
time with the daily runs. Its Athena results go under `.../strava_activities/events/<day>/`. A lost
message costs nothing lasting: the next daily run's window lists the day again.

**First day**: `strava.start_date` in `include/datalake.yaml`; a run for an earlier day fails at once
(`refresh_token`) naming that key. **Schedule**: `strava.schedule`, a `CronDataIntervalTimetable` in UTC.
**Backfill** a year: `airflow backfill create --dag-id strava_activities --from-date 2025-01-01
--to-date 2026-01-01 --max-active-runs 1` (a few calls per run, well inside the default rate limits).
**Reads** the Strava API through the `strava_default` connection; **writes** the lake bucket
(`lake.bucket`), Athena results under `athena.results_prefix/strava_activities/<ds>/`, the Glue catalogue.

**When it fails** (one alert per failure, see `alerts:` in `include/datalake.yaml`); every task is
idempotent, so once the cause is fixed, *clear* the failed task and the run finishes:
- `refresh_token`, "re-authorise": the refresh token is invalid or revoked (fails at once, no retries).
  Re-authorise the app with the scope `activity:read_all`: open
  `https://www.strava.com/oauth/authorize?client_id=<CLIENT_ID>&response_type=code&redirect_uri=http://localhost/exchange_token&approval_prompt=force&scope=read,activity:read_all`,
  approve, exchange the `code` of the redirect with `POST https://www.strava.com/oauth/token`
  (`grant_type=authorization_code`, `client_id`, `client_secret`, `code`), put the answer's
  `refresh_token` into the connection's *Refresh token* field, and clear the task.
- `refresh_token`, "revoked this app's access" (a push event) or "still holds the refresh token of
  before": the athlete deauthorised the app, and no run calls Strava until a person re-authorises (as
  above). The new refresh token in the connection is what resumes the runs (the Variable
  `datalake_strava_deauthorised` then goes); clear the failed runs to fill their days.
- `refresh_token`, "cannot update": the connection lives where the pipeline cannot write a rotated
  token (an `AIRFLOW_CONN_*` variable): move it to the metadata DB or AWS Secrets Manager.
- `extract_activities`, rate limits: the 15-minute limit retries at the next quarter hour; the daily
  limit stops the run: clear it after midnight UTC. The usage Strava last reported is kept in the
  Variable `datalake_strava_rate_limits` (numbers only), so the next run starts from it. A failure
  part-way leaves each day as it was or rewritten whole; the retry lists again and writes the rest.
- Athena tasks: the log has Athena's reason (workgroup, permissions, results bucket).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import chain, dag, task

from datalake.assets import strava_activities_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import get_config
from datalake.dag_defaults import dag_args
from datalake.strava import tasks as strava_tasks

config = get_config()
# a run push events started has no data interval: its results go under events/<day it ran>/
RESULTS_FOLDER = "{{ ds if ds is defined else 'events/' ~ (dag_run.run_after | ds) }}"


@dag(
    schedule=strava_tasks.schedule(config),
    **dag_args(
        "strava_activities",
        description="Strava activities of each day into the lake (raw JSON and Parquet) and Athena",
        doc_md=__doc__,
        tags=("strava", "athena", "datalake"),
        max_active_runs=1,
        # add_partitions.sql's days: a scheduled run's window, or the days a push-event run listed
        user_defined_macros={
            "strava_window_days": strava_tasks.window_days,
            "strava_pushed_days": strava_tasks.pushed_partition_days,
            "strava_detail_columns": strava_tasks.detail_columns,
        },
    ),
)
def strava_activities() -> None:
    # One refresh at a time across all runs (a backfill next to the daily run): Strava rotates the
    # refresh token, so two refreshes racing would make one of them present a token that just died.
    @task(execution_timeout=timedelta(minutes=5), max_active_tis_per_dag=1)
    def refresh_token(data_interval_start=None, dag_run=None, triggering_asset_events=None) -> dict:
        """Stop on a deauthorisation; refresh the access token when needed, written back first."""
        return strava_tasks.refresh_token(
            data_interval_start, dag_run=dag_run, triggering_asset_events=triggering_asset_events
        )

    # One extraction at a time across all runs: each writes the days as it listed them, so the later
    # listing must be the later write (a backfill next to the daily run).
    @task(
        execution_timeout=strava_tasks.EXTRACT_TIMEOUT,
        retry_policy=strava_tasks.RATE_LIMIT_RETRIES,
        max_active_tis_per_dag=1,
    )
    def extract_activities(
        data_interval_start=None, data_interval_end=None, dag_run=None, triggering_asset_events=None
    ) -> dict:
        """List the window's (or the push events') days once; rewrite those Strava changed."""
        return strava_tasks.extract_activities(
            data_interval_start,
            data_interval_end,
            dag_run=dag_run,
            triggering_asset_events=triggering_asset_events,
        )

    asset = strava_activities_asset(config)

    @task(outlets=[asset])
    def publish_days(extracted: dict, *, data_interval_end=None, dag_run=None, outlet_events=None) -> dict:
        """Publish the strava_activities Asset with the days this run rewrote in its extra."""
        extra = strava_tasks.asset_extra(extracted, data_interval_end, dag_run=dag_run)
        outlet_events[asset].extra = extra
        return extra

    params = strava_tasks.sql_params(config)
    output_location = config.athena.output_location("strava_activities", RESULTS_FOLDER)
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
    add_partitions = IdempotentAthenaOperator(
        task_id="add_partitions",
        query="strava/add_partitions.sql",
        database=config.strava.database,
        output_location=output_location,
        params=params,
        doc_md="Register the partition of every day of the window, in one statement.",
    )

    # with strava.details: the detail tables, partition projection (nothing to register)
    create_detail_tables = [
        IdempotentAthenaOperator(
            task_id=f"create_table_{table}",
            query="strava/create_detail_table.sql",
            database=config.strava.database,
            output_location=output_location,
            params=strava_tasks.detail_table_params(config, table),
            doc_md=f"Create the detail table `{table}` if missing (`strava/create_detail_table.sql`).",
        )
        for table in strava_tasks.detail_tables(config)
    ]

    extracted = extract_activities()
    published = publish_days(extracted)
    chain(refresh_token(), extracted, create_database, create_table, add_partitions, published)
    if create_detail_tables:
        create_database >> create_detail_tables >> published


strava_activities()
