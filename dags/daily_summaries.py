"""
### Daily summaries: storage and training, as a report people read

Runs whenever new data lands: it is scheduled on the `strava_activities` Asset **or** any
`s3_inventory_<name>` Asset (one asset expression joined with `|`), so one DAG keeps one report per
day with every source in it, and a late inventory drop or a Strava backfill simply refreshes that day's
report. (One DAG per source would write half-reports that overwrite each other.)

**Tasks**
1. `find_partitions`: picks the report day (the `day` parameter of a manual run, else the `dt` of the
   inventory drop that triggered the run, else the run's date, UTC) and which sources have data for it
   (the Glue Data Catalog): Strava, if its table has a partition in the days its summaries read; each
   inventory configuration, if that day's drop (or the newest before it; listing only the last weeks of
   `hive/dt=` folders) is registered in its table, compared with the registered drop before it.
   A source without data is skipped with its reason, shown in the report ("no data yet, the
   strava_activities DAG has not run"): a user without Strava, or an inventory DAG still paused, still
   gets the report of the other sources.
2. One Athena query per summary (`include/sql/summaries/*.sql`), in a group per source:
   - `inventory_<name>.*`: storage classes (objects, bytes, oldest/newest object, zero-byte "folder"
     objects), versions and delete markers, encryption, top-level prefixes, what storage costs (billed
     quantities per class, tier and version state, priced with `include/prices/s3.yaml`), the savings
     candidates (old STANDARD objects, non-current versions, lone delete markers, folder objects, with
     their largest prefixes), the age histogram. Each reads **only the day's partition**. `trend` reads
     the days before from the daily storage summary (below), never an earlier drop.
   - `strava.*`: weekly distance, moving time and elevation per sport type (12 ISO weeks), year to date
     against last year to date, the ten longest activities of the last twelve months. They read only the
     partitions of those windows.
   Each query: a `ClientRequestToken` derived from dag, run and task ids and the SQL (a retry reuses
   the running or finished query; only a failed one is started again), polled every 2 s from the task
   (not deferred: Airflow 3.3 can fail a deferred task whose trigger fires at once, apache/airflow#72716),
   `execution_timeout` = `athena.query_timeout_minutes`, results under
   `s3://<athena.results_bucket>/<athena.results_prefix>/summaries/<source>/<day>/`, bytes scanned in the log.
   A source with no data for the day skips its queries. `daily_storage.create_database` and
   `create_table` make the summary table's Athena table if it is missing (DDL, free).
3. `publish_report` (runs whatever happened to the queries): reads the results (GetQueryResults),
   prices them, writes each inventory's rows of the day (one per storage class) to the daily storage
   summary, `s3://<reports.bucket>/<reports.summary_prefix>/inventory=<name>/day=<day>/summary.parquet`,
   renders one
   self-contained HTML page with charts and tables, and writes
   `s3://<reports.bucket>/<reports.prefix>/<day>/report.html` (plus `summary.json`, the document it was
   rendered from). Its **Daily report** button opens the page.
4. `alert_anomalies`: an inventory whose day changed more than `reports.anomalies` allows (total bytes or
   objects, delete markers, unencrypted objects, a class it should not have) against the day before in
   the summary table gets one alert through the configured notifier, with the numbers and the report's
   link; the day's `summary.json` records it, so a rerun of the day does not alert again. A failed send
   records nothing: the task fails and alerts, and its retry sends the anomaly alert again.

**Where to read it**: *Browse → Reports* in the Airflow UI (for users who may read this DAG), or the
button above.

**Re-run a day**: *Trigger DAG w/ config* with `{"day": "YYYY-MM-DD"}`; it replaces that day's report.
**When it is late**: a run not finished `alerts.summary_deadline_minutes` after it was queued sends one
alert (a `DeadlineAlert`; the run goes on). Look for a query stuck in Athena's queue or a full triggerer.

**When it fails**: the run alerts once (SNS by default, see `alerts:`):
- `find_partitions`, "No source has data for <day>": nothing to report that day; the alert names each
  source's reason (a DAG not run yet, a drop not registered, nothing on or before the day). A run that
  did nothing never shows green. Run the source's DAG (or unpause it), then clear the task.
- `publish_report`, "... of its summaries failed": a query failed; the report is written all the same,
  and its section and the alert say which summary failed and Athena's reason (a missing column, a
  broken table, permissions). The query tasks send no alert of their own. An error Athena marks not
  retryable (missing schema, table or column, syntax, permissions) fails its query at once; others
  are retried twice first. Fix the cause, clear the failed query tasks and `publish_report` (their
  setup, `find_partitions`, is cleared with them and plans again): the report is rewritten, nothing
  doubles.
- any other task: its own alert, with the error and the log.
"""

from __future__ import annotations

import functools
import operator

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, TaskGroup, TriggerRule, chain, dag, task

from datalake.alerts import summary_deadline
from datalake.assets import inventory_asset, strava_activities_asset
from datalake.athena import IdempotentAthenaOperator
from datalake.config import get_config
from datalake.dag_defaults import dag_args
from datalake.reports import DAG_ID, history
from datalake.reports import tasks as report_tasks
from datalake.reports.operators import PUBLISH_TASK_ID, PublishReportOperator, SummaryQueryOperator

config = get_config()
sources = [strava_activities_asset(config), *(inventory_asset(inv) for inv in config.inventories)]


@dag(
    schedule=functools.reduce(operator.or_, sources),
    **dag_args(
        DAG_ID,
        description="Athena summaries of the day's storage and training, rendered as an HTML report",
        doc_md=__doc__,
        tags=("reports", "athena", "s3-inventory", "strava"),
        max_active_runs=1,
        deadline=summary_deadline(config),
        params={
            "day": Param(
                None,
                type=["null", "string"],
                # JSON Schema searches a pattern, and Python's `$` lets a trailing newline through:
                # `format: date` holds the whole value to a calendar date
                pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                format="date",
                description="Report this day (YYYY-MM-DD) instead of the one the new data belongs to",
            )
        },
    ),
)
def daily_summaries() -> None:
    @task
    def find_partitions(params=None, triggering_asset_events=None, dag_run=None) -> dict:
        """Choose the report day and, per inventory configuration, its drop and the previous one."""
        return report_tasks.find_partitions(params, triggering_asset_events, dag_run)

    @task
    def earlier_reports(plan: dict, run_id=None) -> list[dict]:
        """The earlier days the new data changed that have a report: one run of their own each."""
        return report_tasks.refresh_requests(plan, run_id)

    @task
    def alert_anomalies(ti=None, run_id=None) -> list[str]:
        """Alert once per inventory and day whose storage changed more than the configuration allows."""
        return report_tasks.alert_anomalies(ti.xcom_pull(task_ids="find_partitions"), run_id)

    with TaskGroup(group_id="daily_storage", tooltip="The Athena table of the daily storage summary"):
        create_summary_table = [
            IdempotentAthenaOperator(
                task_id=name,
                query=f"summaries/daily_storage_{name}.sql",
                output_location=config.athena.output_location("summaries", "daily_storage"),
                params=history.table_params(config),
                doc_md=f"Runs `include/sql/summaries/daily_storage_{name}.sql` on Athena.",
            )
            for name in ("create_database", "create_table")
        ]
    queries = []
    for source, summaries in report_tasks.query_groups(config).items():
        with TaskGroup(group_id=source, tooltip=f"Summary queries of {source}"):
            queries += [
                SummaryQueryOperator(
                    task_id=summary.task_id,
                    summary=summary,
                    source=source,
                    doc_md=f"{summary.title}: `include/sql/{summary.template}` on Athena.",
                )
                for summary in summaries
            ]
    publish = PublishReportOperator(
        task_id=PUBLISH_TASK_ID,
        query_tasks=report_tasks.query_task_ids(config),
        trigger_rule=TriggerRule.ALL_DONE,  # a failed query fails its section, not the report
        doc_md="Render the day's report from the query results and write it to S3; alert for failed queries.",
    )
    refresh_earlier_reports = TriggerDagRunOperator.partial(
        task_id="refresh_earlier_reports",
        trigger_dag_id=DAG_ID,
        skip_when_already_exists=True,
        doc_md="Start a run of this DAG for each earlier day whose report the new data changed.",
    )
    # The plan is the run's setup: without it nothing runs, publish_report included (ALL_DONE alone
    # would run it after a failed plan, and a leaf that ran makes the run green).
    plan = find_partitions().as_setup()
    # The anomalies alert whatever happened to the report (a Strava query that failed says nothing about
    # storage), as the plan's teardown: a teardown leaves the run's state to publish_report (a leaf that
    # ran whatever happened would make every run green). A failed alert task alerts on its own.
    plan >> queries >> publish >> alert_anomalies().as_teardown(setups=plan)
    chain(plan, *create_summary_table, [q for q in queries if q.summary_name == "inventory_trend"])
    refresh_earlier_reports.expand_kwargs(earlier_reports(plan))


daily_summaries()
