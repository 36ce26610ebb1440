"""Failure alerts that reach a person: SNS by default, SMTP or Slack by configuration.

(First version: SNS only. The message format, de-duplication between task- and DAG-level callbacks,
and the SMTP/Slack choices are completed by the operations work.)
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

from datalake.config import get_config

_SUBJECT = "[datalake] {{ dag.dag_id }} failed"
_MESSAGE = (
    "DAG {{ dag.dag_id }}, task {{ ti.task_id }}, run {{ run_id }}, try {{ ti.try_number }} failed.\n"
    "Log: {{ ti.log_url }}\n"
)


def task_failure_alert() -> Any:
    config = get_config()
    return SnsNotifier(
        aws_conn_id=config.aws_conn_id,
        region_name=config.region,
        target_arn=config.alerts.sns_topic_arn,
        subject=_SUBJECT,
        message=_MESSAGE,
    )


def dag_failure_alert() -> Any:
    return task_failure_alert()
