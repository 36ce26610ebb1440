"""The two operators of the summaries DAG and the report button.

``SummaryQueryOperator`` is the provider's ``AthenaOperator`` with the run's plan filled in: the SQL
file is rendered with the partition values the plan chose (checked again: the plan is an XCom), the
results go to a stable per-day prefix, and, as every Athena task of the package (``datalake.athena``), a
retry picks up the query its previous try started instead of paying for a second one, a query Athena
marks not retryable fails at once, and the bytes scanned are logged. A source without data for the day
skips its queries. A query that fails leaves its reason in an XCom and sends no alert of its own: the
publish task reports it (``alerted_by``).

``PublishReportOperator`` runs whatever happened to the queries: it reads every result back
(GetQueryResults), writes each inventory's rows of the day to the daily storage summary
(``datalake.reports.history``), renders the page and stores it, a failed query's section saying which
summary failed and why; then it fails, naming those sections, so that the run alerts once. Its
``Daily report`` button opens that day's page on the Reports page of the Airflow UI.

The DAG file imports this module at parse time: the plan, the report document, the renderer and the
report store are imported by the code that runs in the task.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from datalake import aws
from datalake.athena import IdempotentAthenaOperator
from datalake.config import DatalakeConfig, get_config
from datalake.reports.queries import QUERIES, SummaryQuery, check_query_execution_id

log = logging.getLogger(__name__)

REPORTS_URL_PREFIX = "/reports"
PUBLISH_TASK_ID = "publish_report"
FAILURE_KEY = "failure"  # the XCom in which a failed query task leaves its reason
NO_RESULT = "the query task ended without a result or a reason (killed, or out of time?): see its log"


class SummaryQueryOperator(IdempotentAthenaOperator):
    """Run one summary SQL file for one source with the values the plan task chose for this run.

    :param summary: the query (its file under ``include/sql/summaries/``).
    :param source: ``strava`` or ``inventory_<name>``: which entry of the plan to use.
    :param plan_task_id: the task whose return value is the plan (see ``datalake.reports.plan``).
    :param alerted_by: the task that reports this one's failure in its own alert (see
        ``datalake.alerts``); this task sends none.
    """

    ui_color = "#c7e6f5"

    def __init__(
        self,
        *,
        summary: SummaryQuery,
        source: str,
        plan_task_id: str = "find_partitions",
        alerted_by: str = PUBLISH_TASK_ID,
        config: DatalakeConfig | None = None,
        **kwargs: Any,
    ) -> None:
        config = config or get_config()
        self.results_root = config.athena.output_location("summaries")
        kwargs["on_failure_callback"] = []  # replaces the package's default: alerted_by reports it
        # the output location is this root until the plan names the day (render_template_fields)
        super().__init__(
            query=summary.template,
            output_location=self.results_root,
            config=config,
            **kwargs,
        )
        self.summary_name = summary.name
        self.source = source
        self.plan_task_id = plan_task_id
        self.alerted_by = alerted_by

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        from datalake.reports.plan import checked_plan

        plan = checked_plan(context["ti"].xcom_pull(task_ids=self.plan_task_id), get_config())
        entry = plan["sources"][self.source]
        values = entry["values"]
        if values is None:
            raise AirflowSkipException(f"{self.source}: {entry['reason']}")
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
        try:
            query_execution_id = super().execute(context)
        except AirflowException as error:
            self._leave_reason(context, error)
            raise
        return self._finished(query_execution_id)

    def _leave_reason(self, context: Any, error: BaseException) -> None:
        """Why the query failed, for the report (what the publish task shows and alerts with)."""
        from datalake.alerts import one_line

        context["ti"].xcom_push(key=FAILURE_KEY, value=one_line(str(error)))

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
    """Read the day's summary results, render the report and store it; then fail, naming them, when
    some summaries failed (give it a trigger rule that runs it whatever happened to the queries).

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
        from datalake.alerts import one_line
        from datalake.reports.plan import checked_plan

        config = get_config()
        ti = context["ti"]
        plan = checked_plan(ti.xcom_pull(task_ids=self.plan_task_id), config)
        outputs: dict[str, dict[str, Any]] = {}
        failures: dict[str, dict[str, str]] = {}
        for source, tasks in self.query_tasks.items():
            summarised = plan["sources"][source]["values"] is not None
            outputs[source] = {}
            for name, task_id in tasks.items():
                output = ti.xcom_pull(task_ids=task_id) if summarised else None
                outputs[source][name] = self._checked_output(output, task_id)
                if summarised and output is None:
                    reason = ti.xcom_pull(task_ids=task_id, key=FAILURE_KEY)
                    failures.setdefault(source, {})[name] = one_line(reason) if reason else NO_RESULT
        _, url = publish(plan, outputs, config, failures=failures, run_id=context["run_id"])
        self.report_day = plan["day"]
        if failures:
            raise AirflowFailException(failed_sections(plan, failures, url))
        return plan["day"]

    @staticmethod
    def _checked_output(output: Any, task_id: str) -> dict[str, Any] | None:
        """A query task's return value (an XCom), its query id checked before it reaches Athena."""
        if output is None:
            return None
        if not isinstance(output, dict):
            raise ValueError(f"the result of {task_id} (XCom) is not a mapping: {type(output).__name__}")
        check_query_execution_id(
            output.get("query_execution_id"), f"the query_execution_id of {task_id} (XCom)"
        )
        return output


def publish(
    plan: dict[str, Any],
    outputs: dict[str, dict[str, Any]],
    config: DatalakeConfig,
    *,
    failures: dict[str, dict[str, str]],
    run_id: str,
    athena_client: Any = None,
) -> tuple[dict[str, Any], str]:
    """What the publish task does with the checked plan and the query outputs: the report document,
    each inventory's rows of the day written to the daily storage summary, then the page and the
    document stored. Returns the document and the page's URL."""
    from datalake.reports.document import build_report
    from datalake.reports.history import SummaryTable
    from datalake.reports.render import render_report
    from datalake.reports.store import ReportStore

    day = plan["day"]
    store = ReportStore(config)
    athena_client = athena_client or aws.athena(config)
    document = build_report(plan, outputs, athena_client, store, config, failures=failures, run_id=run_id)
    summary = SummaryTable(config)
    for source in document["sources"].values():
        rows = (source.get("insights") or {}).get("summary_rows")
        if rows:
            written = summary.write(day, source["inventory"], rows)
            log.info("%d rows of the daily storage summary written to %s", len(rows), written)
    html = render_report(document)
    url = store.write(day, html, document)
    log.info("Report for %s written to %s (%d bytes of HTML)", day, url, len(html))
    return document, url


def failed_sections(plan: dict[str, Any], failures: dict[str, dict[str, str]], url: str) -> str:
    """The publish task's error: where the report is, and each failed summary with its reason."""
    count = sum(len(names) for names in failures.values())
    parts = [
        f"{plan['sources'][source]['title']} / {QUERIES[name].title}: {reason}"
        for source, names in failures.items()
        for name, reason in names.items()
    ]
    return (
        f"The report of {plan['day']} is written ({url}), but {count} of its summaries failed. "
        + " | ".join(parts)
    )
