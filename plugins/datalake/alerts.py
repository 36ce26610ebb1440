"""Failure alerts that reach a person: SNS by default, SMTP or Slack by configuration.

**When.** A task alerts on its *final* failure only: ``on_failure_callback`` runs once retries are
exhausted (a retry runs ``on_retry_callback``, which the package does not set). The DAG-level
``on_failure_callback`` is the second line of defence.

**One alert per failure.** Both levels are wired, so a failure could be announced twice. The rule:

1. The task-level callback sends the alert (it has the exception, so the message carries the error)
   and *then* records it in an Airflow Variable, ``datalake_alerted__<dag>__<run>__<task>__<map index>``.
   Variables can be written from task code in Airflow 3, and the task's FAILED state reaches the
   metadata DB only after the task process (callbacks included) has exited, so the record always
   exists before the run can fail and its DAG-level callback can look for it. The record is written
   only when the send succeeded: a failed send leaves the alert to the DAG level.
2. The DAG-level callback (it runs in the dag-processor, even when a task was killed by SIGKILL or the
   OOM killer before it could run its own callback) lists the run's failed task instances, alerts for
   each one that has no record ("no task-level alert was sent"), and deletes the run's records. When no
   task failed (a ``dagrun_timeout``, for instance) it alerts once for the run, with Airflow's reason.
3. A task may leave its failure to another task of the run that reports it in its own alert (the summary
   queries, whose failures the report's publish task names: one alert per run, not one per query). Such
   a task has no task-level callback and names that task in its ``alerted_by`` attribute; the DAG-level
   callback sends nothing for it when that task's record is there, and alerts for it as for any other
   failed task when it is not (the reporting task was killed too, or did not run).

A record lives in the metadata DB (durable across processes and restarts) and only for the short time
between a task's failure and its run's end. The reverse design (only a DAG-level alert listing every
failed task) was not chosen: the DAG-level callback does not see the exceptions, so its message could
not say *what* went wrong.

**What.** Every alert names the DAG, task, run id, try number, the error in one line and the log URL.
It never carries a secret: the text goes through Airflow's secrets masker (which knows every value
registered with ``mask_secret``, such as a fresh Strava access token) and through patterns that hide
anything shaped like a credential (bearer tokens, ``token=...``/``secret: ...`` pairs, long hex or
base64 strings): :func:`datalake.redaction.redact`.

**Where** (``alerts.notifier`` in ``include/datalake.yaml``):

- ``sns`` (default): the Amazon provider's ``SnsNotifier`` publishes to ``alerts.sns_topic_arn``
  through the ``aws_conn_id`` connection. Subscribe e-mail, SMS, chat or a queue to the topic.
- ``smtp``: the SMTP provider's ``SmtpNotifier`` (installed with Airflow here) mails
  ``alerts.smtp_to`` through the ``smtp_default`` connection.
- ``slack``: the Slack provider's ``SlackWebhookNotifier`` posts to a Slack *incoming webhook* through
  the ``alerts.slack_conn_id`` connection (type ``slackwebhook``; its password is the webhook URL, or
  the part after ``https://hooks.slack.com/services/`` with the host left empty). The message goes to
  the channel the webhook was created for: an incoming webhook cannot choose another.

**Lateness.** :func:`summary_deadline` is a ``DeadlineAlert`` for the ``daily_summaries`` DAG: a run not
finished ``alerts.summary_deadline_minutes`` after it was queued sends one alert (the callback runs in
the triggerer). The inventory DAGs need none: their sensor's deadline fails the run, which alerts.

**Anomalies.** An :class:`AnomalyAlert` is no failure: the summaries found one inventory's day changed
more than the configuration allows (``datalake.reports.anomalies``). It goes through the same notifier,
names the inventory, each class and its numbers, and links the day's report; the summaries send it
once per inventory and day (``datalake.reports.tasks.alert_anomalies``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from datalake.config import AlertsConfig, DatalakeConfig, get_config
from datalake.redaction import one_line, redact

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
RECORD_PREFIX = "datalake_alerted"
NOTIFIERS = ("sns", "smtp", "slack")


# -- the message --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One failure, as a person reads it."""

    dag_id: str
    task_id: str | None
    run_id: str
    try_number: int | None
    error: str
    log_url: str
    map_index: int = -1
    event: str = "failed"  # or "is late", for a missed deadline

    @property
    def subject(self) -> str:
        what = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        subject = f"[datalake] {what} {self.event}"
        subject = subject.encode("ascii", "replace").decode()
        return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 3] + "..."

    @property
    def text(self) -> str:
        task = self.task_id or "(the run itself)"
        if self.map_index >= 0:
            task += f" [map index {self.map_index}]"
        lines = [
            f"DAG: {self.dag_id}",
            f"Task: {task}",
            f"Run: {self.run_id}",
            f"Try: {self.try_number if self.try_number is not None else 'unknown'}",
            f"Error: {self.error}",
            f"Log: {self.log_url}",
        ]
        return redact("\n".join(lines)) + "\n"


@dataclass(frozen=True)
class AnomalyAlert:
    """One inventory's day whose storage changed more than the configuration allows."""

    inventory: str
    bucket: str
    day: str
    dt: str
    previous: str | None  # the day compared with (None: the first day summarised)
    anomalies: tuple[str, ...]  # one line each, numbers for people
    report_url: str

    @property
    def subject(self) -> str:
        count = len(self.anomalies)
        subject = f"[datalake] s3://{self.bucket} ({self.inventory}): {count} storage anomal"
        subject += f"{'y' if count == 1 else 'ies'} on {self.day}"
        subject = subject.encode("ascii", "replace").decode()
        return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 3] + "..."

    @property
    def text(self) -> str:
        against = f"compared with {self.previous}" if self.previous else "the first day summarised"
        lines = [
            f"Inventory: {self.inventory} (s3://{self.bucket})",
            f"Day: {self.day} (drop dt={self.dt}, {against})",
            *(f"- {line}" for line in self.anomalies),
            f"Report: {self.report_url}",
        ]
        return redact("\n".join(lines)) + "\n"


def log_url(dag_id: str, run_id: str, task_id: str | None = None, map_index: int = -1) -> str:
    """The UI page of a task instance (or of the run), from ``[api] base_url``."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    url = f"{base}/dags/{dag_id}/runs/{quote(run_id)}"
    if task_id:
        url += f"/tasks/{task_id}" + (f"/mapped/{map_index}" if map_index >= 0 else "")
    return url


# -- sending ------------------------------------------------------------------------------------------
def send(alert: Alert | AnomalyAlert, config: DatalakeConfig | None = None) -> None:
    """Deliver ``alert`` through the configured notifier (raises when the notifier fails)."""
    config = config or get_config()
    notifier = build_notifier(config, alert.subject, alert.text)
    notifier.notify({})  # the text is final: no templating of (possibly brace-holding) error text
    log.info("Sent a %s alert for %s", config.alerts.notifier, alert.subject)


def build_notifier(config: DatalakeConfig, subject: str, text: str) -> Any:
    """The provider notifier chosen by ``alerts.notifier``, carrying ``subject`` and ``text``."""
    alerts: AlertsConfig = config.alerts
    if alerts.notifier == "sns":
        from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

        if not alerts.sns_topic_arn:
            raise ValueError(f"alerts.notifier is sns but alerts.sns_topic_arn is empty in {config.source}")
        from datalake import aws

        return SnsNotifier(
            **aws.connection(config),
            target_arn=alerts.sns_topic_arn,
            subject=subject,
            message=text,
        )
    if alerts.notifier == "smtp":
        from html import escape

        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        if not alerts.smtp_to:
            raise ValueError(f"alerts.notifier is smtp but alerts.smtp_to is empty in {config.source}")
        return SmtpNotifier(
            to=list(alerts.smtp_to), subject=subject, html_content=f"<pre>{escape(text)}</pre>"
        )
    if alerts.notifier == "slack":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(
            slack_webhook_conn_id=alerts.slack_conn_id, text=f"*{subject}*\n```{text}```"
        )
    raise ValueError(f"alerts.notifier must be one of {', '.join(NOTIFIERS)}, not {alerts.notifier!r}")


# -- records of task-level alerts ---------------------------------------------------------------------
def record_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The Variable that says "this task instance of this run has alerted"."""
    safe_run = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    return f"{RECORD_PREFIX}__{dag_id}__{safe_run}__{task_id}__{map_index}"[:250]


def _record(key: str, value: str) -> None:
    from airflow.sdk import Variable

    Variable.set(key, value, description="A task-level failure alert was sent (datalake.alerts)")


def _has_record(key: str) -> bool:
    from airflow.sdk import Variable

    return Variable.get(key, default=None) is not None


def _forget(key: str) -> None:
    from airflow.sdk import Variable

    try:
        Variable.delete(key)
    except Exception:  # a missing record, or a process that cannot delete: the record is harmless
        log.debug("Could not delete the alert record %s", key, exc_info=True)


# -- the callbacks --------------------------------------------------------------------------------------
class TaskFailureAlert:
    """Task-level ``on_failure_callback``: alert once, with the error, then record it."""

    __name__ = "TaskFailureAlert"

    def __call__(self, context: dict[str, Any]) -> None:
        ti = context["ti"]
        dag_id, run_id = ti.dag_id, context.get("run_id") or ti.run_id
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else map_index
        alert = Alert(
            dag_id=dag_id,
            task_id=ti.task_id,
            run_id=run_id,
            try_number=getattr(ti, "try_number", None),
            error=one_line(context.get("exception") or context.get("reason")),
            log_url=_ti_log_url(ti, dag_id, run_id, map_index),
            map_index=map_index,
        )
        send(alert)
        _record(record_key(dag_id, run_id, ti.task_id, map_index), str(alert.try_number))


class DagFailureAlert:
    """DAG-level ``on_failure_callback``: alert for the failed tasks whose failure no alert named yet."""

    __name__ = "DagFailureAlert"

    def __call__(self, context: dict[str, Any]) -> None:
        dag = context.get("dag")
        dag_id = getattr(dag, "dag_id", None) or context["ti"].dag_id
        run_id = context["run_id"]
        reason = context.get("reason")
        failed = failed_task_instances(context, dag_id, run_id)
        records = {
            (task_id, map_index): record_key(dag_id, run_id, task_id, map_index)
            for task_id, map_index, _ in failed
        }
        alerted = {ti for ti, key in records.items() if _has_record(key)}
        sent = 0
        for task_id, map_index, try_number in failed:
            if (task_id, map_index) in alerted:
                continue
            reporter = _alerted_by(dag, task_id)
            if reporter is not None and _reported(reporter, alerted, dag_id, run_id):
                continue
            if reporter is None:
                error = (
                    "the task failed without sending its own alert (killed by SIGKILL or out of memory, or "
                    f"its alert could not be sent); run state reason: {one_line(reason)}"
                )
            else:
                error = (
                    f"the task failed and {reporter}, which reports its failures, sent no alert (it failed "
                    f"without alerting, or did not run); run state reason: {one_line(reason)}"
                )
            send(
                Alert(
                    dag_id=dag_id,
                    task_id=task_id,
                    run_id=run_id,
                    try_number=try_number,
                    error=error,
                    log_url=log_url(dag_id, run_id, task_id, map_index),
                    map_index=map_index,
                )
            )
            sent += 1
        for ti in alerted:
            _forget(records[ti])
        if not failed:
            send(
                Alert(
                    dag_id=dag_id,
                    task_id=None,
                    run_id=run_id,
                    try_number=None,
                    error=f"the run failed with no failed task: {one_line(reason)}",
                    log_url=log_url(dag_id, run_id),
                )
            )
            sent += 1
        log.info(
            "Run %s of %s failed with %d failed task(s); %d alert(s) sent at DAG level",
            run_id,
            dag_id,
            len(failed),
            sent,
        )


def _alerted_by(dag: Any, task_id: str) -> str | None:
    """The task that reports ``task_id``'s failure in its own alert (its ``alerted_by``), if any."""
    try:
        task = dag.get_task(task_id)
    except Exception:  # no DAG in the context, or a task removed since the run
        return None
    reporter = getattr(task, "alerted_by", None)
    return reporter if isinstance(reporter, str) and reporter else None


def _reported(reporter: str, alerted: set[tuple[str, int]], dag_id: str, run_id: str) -> bool:
    """Whether ``reporter`` sent its alert for this run (its record, already read or read now)."""
    return (reporter, -1) in alerted or _has_record(record_key(dag_id, run_id, reporter))


def failed_task_instances(context: dict[str, Any], dag_id: str, run_id: str) -> list[tuple[str, int, Any]]:
    """``(task_id, map_index, try_number)`` of the run's failed task instances.

    In the dag-processor (production) the run's task states come from the Task SDK's supervisor; the
    task instance in the context (the one whose failure failed the run) is always included, with its
    try number. Where no supervisor answers (``dag.test()`` runs DAG callbacks in the test process),
    that task instance is all there is.
    """
    found: dict[tuple[str, int], Any] = {}
    ti = context.get("ti")
    if ti is not None:  # Airflow hands the DAG callback the failed task that failed the run
        index = getattr(ti, "map_index", -1)
        found[(ti.task_id, -1 if index is None else index)] = getattr(ti, "try_number", None)
    task_ids = set(getattr(context.get("dag"), "task_ids", None) or ())
    for task_id, map_index in _failed_from_supervisor(dag_id, run_id, task_ids):
        found.setdefault((task_id, map_index), None)
    return [(task_id, index, tries) for (task_id, index), tries in sorted(found.items())]


def _failed_from_supervisor(dag_id: str, run_id: str, task_ids: set[str]) -> Iterable[tuple[str, int]]:
    from airflow.sdk.execution_time import task_runner

    if not hasattr(task_runner, "SUPERVISOR_COMMS"):
        return []
    try:
        states = task_runner.RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
    except Exception:
        log.warning("Could not list the task states of run %s of %s", run_id, dag_id, exc_info=True)
        return []
    failed = []
    for key, state in (states.get(run_id) or {}).items():
        if str(state) in ("failed", "TaskInstanceState.FAILED"):
            task_id, _, index = key.rpartition("_")  # mapped instances come as <task_id>_<map index>
            if key not in task_ids and task_id and index.isdigit():
                failed.append((task_id, int(index)))
            else:
                failed.append((key, -1))
    return failed


def _ti_log_url(ti: Any, dag_id: str, run_id: str, map_index: int) -> str:
    try:
        return str(ti.log_url)
    except Exception:
        return log_url(dag_id, run_id, ti.task_id, map_index)


def task_failure_alert() -> Callable[[dict[str, Any]], None]:
    """The task-level failure callback of every task of the package."""
    return TaskFailureAlert()


def dag_failure_alert() -> Callable[[dict[str, Any]], None]:
    """The DAG-level failure callback of every DAG of the package."""
    return DagFailureAlert()


# -- lateness -------------------------------------------------------------------------------------------
async def deadline_missed_alert(context: dict[str, Any] | None = None, **_: Any) -> None:
    """``DeadlineAlert`` callback (runs in the triggerer): the run is not done in time."""
    context = context or {}
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    dag_id, run_id = str(run.get("dag_id", "?")), str(run.get("dag_run_id") or run.get("run_id") or "?")
    alert = Alert(
        dag_id=dag_id,
        task_id=None,
        run_id=run_id,
        try_number=None,
        error=f"the run is late: not finished by its deadline {deadline} (state {run.get('state')})",
        log_url=log_url(dag_id, run_id),
        event="is late",
    )
    await asyncio.to_thread(send, alert)


def summary_deadline(config: DatalakeConfig | None = None) -> Any:
    """The ``DeadlineAlert`` of the summaries: done within ``alerts.summary_deadline_minutes`` of queueing."""
    from datetime import timedelta

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    config = config or get_config()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=config.alerts.summary_deadline_minutes),
        callback=AsyncCallback(deadline_missed_alert),
        name="summary_late",
    )
