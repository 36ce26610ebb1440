"""The two operators of the summaries DAG and the report button.

``SummaryQueryOperator`` is the provider's ``AthenaOperator`` with the run's plan filled in: the SQL
file is rendered with the partition values the plan chose, the results go to a stable per-day prefix,
and, as every Athena task of the package (``datalake.athena``), a retry picks up the query its previous
try started instead of paying for a second one, and the bytes scanned are logged.

``PublishReportOperator`` reads every result back (GetQueryResults), renders the page and stores it;
its ``Daily report`` button opens that day's page on the Reports page of the Airflow UI.

The DAG file imports this module at parse time: the report document, the renderer and the report store
are imported by the code that runs in the task.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowSkipException

from datalake import aws
from datalake.athena import IdempotentAthenaOperator
from datalake.config import DatalakeConfig, get_config
from datalake.reports.queries import SummaryQuery

REPORTS_URL_PREFIX = "/reports"


class SummaryQueryOperator(IdempotentAthenaOperator):
    """Run one summary SQL file for one source with the values the plan task chose for this run.

    :param summary: the query (its file under ``include/sql/summaries/``).
    :param source: ``strava`` or ``inventory_<name>``: which entry of the plan to use.
    :param plan_task_id: the task whose return value is the plan (see ``datalake.reports.plan``).
    """

    ui_color = "#c7e6f5"

    def __init__(
        self,
        *,
        summary: SummaryQuery,
        source: str,
        plan_task_id: str = "find_partitions",
        config: DatalakeConfig | None = None,
        **kwargs: Any,
    ) -> None:
        config = config or get_config()
        self.results_root = config.athena.output_location("summaries")
        # the output location is this root until the plan names the day (render_template_fields)
        super().__init__(
            query=summary.template,
            output_location=self.results_root,
            config=config,
            deferrable=True,
            **kwargs,
        )
        self.summary_name = summary.name
        self.source = source
        self.plan_task_id = plan_task_id

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id)
        entry = (plan or {}).get("sources", {}).get(self.source) or {}
        values = entry.get("values")
        if not values:
            raise AirflowSkipException(f"{self.source}: {entry.get('reason') or 'no data for this day'}")
        for name, value in values.items():
            if name in context and context[name] != value:
                raise ValueError(f"summary value {name!r} would hide Airflow's context variable of that name")
            context[name] = value
        self.output_location = f"{self.results_root}{self.source}/{plan['day']}/"
        super().render_template_fields(context, jinja_env)

    def execute(self, context: Any) -> Any:
        self.log.info(
            "Summary %s of %s: results under %s", self.summary_name, self.source, self.output_location
        )
        query_execution_id = super().execute(context)
        return self._finished(query_execution_id)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        return self._finished(super().execute_complete(context, event))

    def _finished(self, query_execution_id: str) -> dict[str, Any]:
        info = self.hook.get_query_info(query_execution_id)
        execution = info.get("QueryExecution", {})
        scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
        return {
            "query_execution_id": query_execution_id,
            "summary": self.summary_name,
            "source": self.source,
            "bytes_scanned": scanned,
            "output_location": execution.get("ResultConfiguration", {}).get("OutputLocation"),
        }


def report_url(day: str) -> str:
    """Where the Airflow UI serves the page of ``day`` (relative to the API server's base URL)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{REPORTS_URL_PREFIX}/day/{day}"


class DailyReportLink(BaseOperatorLink):
    """The "Daily report" button of the publish task: opens the page it wrote."""

    name = "Daily report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        day = getattr(operator, "report_day", None)
        return report_url(day) if day else ""


class PublishReportOperator(BaseOperator):
    """Read the day's summary results, render the report and store it next to the results.

    :param query_tasks: source -> summary name -> task id of the query.
    """

    operator_extra_links = (DailyReportLink(),)
    ui_color = "#fde68a"

    def __init__(
        self,
        *,
        query_tasks: dict[str, dict[str, str]],
        plan_task_id: str = "find_partitions",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.query_tasks = query_tasks
        self.plan_task_id = plan_task_id
        self.report_day: str | None = None

    def execute(self, context: Any) -> str:
        from datalake.reports.document import build_report
        from datalake.reports.render import render_report
        from datalake.reports.store import ReportStore

        config = get_config()
        ti = context["ti"]
        plan = ti.xcom_pull(task_ids=self.plan_task_id)
        outputs = {
            source: {name: ti.xcom_pull(task_ids=task_id) for name, task_id in tasks.items()}
            for source, tasks in self.query_tasks.items()
        }
        store = ReportStore(config)
        document = build_report(plan, outputs, aws.athena(config), store)
        html = render_report(document)
        url = store.write(plan["day"], html, document)
        self.report_day = plan["day"]
        self.log.info("Report for %s written to %s (%d bytes of HTML)", plan["day"], url, len(html))
        return plan["day"]
