"""
### Daily summaries: storage and training, as a report people read

Runs whenever new data lands: it is scheduled on the `strava_activities` Asset **or** any
`s3_inventory_<name>` Asset (one asset expression joined with `|`), so one DAG keeps one report per
day with every source in it, and a late inventory drop or a Strava backfill simply refreshes that day's
report. (One DAG per source would write half-reports that overwrite each other.)

**Tasks**
1. `find_partitions`: picks the report day (the `day` parameter of a manual run, else the `dt` of the
   inventory drop that triggered the run, else the run's date, UTC) and, per inventory configuration,
   that day's drop and the one before it (listing only the last weeks of `hive/dt=` folders).
2. One Athena query per summary (`include/sql/summaries/*.sql`), in a group per source:
   - `inventory_<name>.*`: storage classes (objects, bytes, oldest/newest object, zero-byte "folder"
     objects), versions and delete markers, encryption, top-level prefixes, change since the previous
     drop. Each reads **only the day's partition** (plus the previous one for the change).
   - `strava.*`: weekly distance, moving time and elevation per sport type (12 ISO weeks), year to date
     against last year to date, the ten longest activities of the last twelve months. They read only the
     partitions of those windows.
   Each query: a `ClientRequestToken` derived from dag, run and task ids and the SQL (a retry reuses
   the running or finished query; only a failed one is started again), deferrable (the triggerer polls),
   `execution_timeout` = `athena.query_timeout_minutes`, results under
   `s3://<athena.results_bucket>/<athena.results_prefix>/summaries/<source>/<day>/`, bytes scanned in the log.
   A source with no data for the day skips its queries.
3. `publish_report`: reads the results (GetQueryResults), renders one self-contained HTML page with
   charts and tables, and writes `s3://<reports.bucket>/<reports.prefix>/<day>/report.html` (plus
   `summary.json`, which later days read for the growth chart). Its **Daily report** button opens the page.

**Where to read it**: *Browse → Reports* in the Airflow UI (behind the Airflow login), or the button above.

**Re-run a day**: *Trigger DAG w/ config* with `{"day": "YYYY-MM-DD"}`; it replaces that day's report.
**When it is late**: a run not finished `alerts.summary_deadline_minutes` after it was queued sends one
alert (a `DeadlineAlert`; the run goes on). Look for a query stuck in Athena's queue or a full triggerer.

**When it fails**: one alert per failed task (SNS by default, see `alerts:`). The failing query's log
has Athena's reason (a missing table means the inventory or Strava DAG has not created it yet); clear
the task once fixed: the report is rewritten, nothing doubles.
"""

from __future__ import annotations

import functools
import operator

# Named here so that the dag-processor imports them once, before it forks a parser for this file
# ([dag_processor] parsing_pre_import_modules): boto3, and the s3:// URI handler Airflow loads for the
# first Asset, then stay out of every parse.
import airflow.providers.amazon.aws.assets.s3
import airflow.providers.amazon.aws.operators.athena  # noqa: F401
import jinja2
import pendulum
from airflow.sdk import Param, TaskGroup, TriggerRule, dag, task

from datalake.alerts import summary_deadline
from datalake.assets import inventory_asset, strava_activities_asset
from datalake.config import SQL_DIR, get_config
from datalake.dag_defaults import dag_failure_callbacks, default_args
from datalake.reports.operators import PublishReportOperator, SummaryQueryOperator
from datalake.reports.queries import INVENTORY_QUERIES, STRAVA_QUERIES, STRAVA_SOURCE, inventory_source

config = get_config()
sources = [strava_activities_asset(config), *(inventory_asset(inv) for inv in config.inventories)]


@dag(
    dag_id="daily_summaries",
    description="Athena summaries of the day's storage and training, rendered as an HTML report",
    doc_md=__doc__,
    schedule=functools.reduce(operator.or_, sources),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    deadline=summary_deadline(config),
    template_searchpath=[str(SQL_DIR)],
    template_undefined=jinja2.StrictUndefined,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="Report this day (YYYY-MM-DD) instead of the one the new data belongs to",
        )
    },
    tags=["reports", "athena", "s3-inventory", "strava"],
)
def daily_summaries():
    @task(task_id="find_partitions")
    def find_partitions(params=None, triggering_asset_events=None, dag_run=None) -> dict:
        """Choose the report day and, per inventory configuration, its drop and the previous one."""
        from datalake.reports.plan import plan_for_run

        return plan_for_run(
            get_config(),
            conf_day=(params or {}).get("day"),
            triggering_asset_events=triggering_asset_events,
            run_after=getattr(dag_run, "run_after", None),
        )

    plan = find_partitions()
    groups = {STRAVA_SOURCE: STRAVA_QUERIES}
    groups.update({inventory_source(inv): INVENTORY_QUERIES for inv in config.inventories})
    query_tasks: dict[str, dict[str, str]] = {}
    queries = []
    for source, summaries in groups.items():
        with TaskGroup(group_id=source, tooltip=f"Summary queries of {source}"):
            for summary in summaries:
                query = SummaryQueryOperator(
                    task_id=summary.name.split("_", 1)[1],
                    summary=summary,
                    source=source,
                    doc_md=f"{summary.title}: `include/sql/{summary.template}` on Athena.",
                )
                query_tasks.setdefault(source, {})[summary.name] = query.task_id
                queries.append(query)
    publish = PublishReportOperator(
        task_id="publish_report",
        query_tasks=query_tasks,
        trigger_rule=TriggerRule.NONE_FAILED,
        doc_md="Render the day's report from the query results and write it to S3.",
    )
    plan >> queries >> publish


daily_summaries()
