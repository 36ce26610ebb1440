"""What every DAG of the package shares: owner, retries, failure alerts, the agreed tags.

DAG files build their ``default_args`` and DAG-level callbacks from here, so a policy test can hold
every DAG to the same standard.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from datalake.config import get_config

# Every task talks to S3, Glue, Athena or Strava: none may hang for ever. Tasks that need longer (the
# Strava extraction, Athena queries) set their own; sensors are bounded by their ``timeout`` too.
TASK_TIMEOUT = timedelta(hours=1)

# The agreed tag list: every DAG's tags come from here (a policy test checks it).
TAGS = frozenset({"strava", "s3-inventory", "athena", "reports", "maintenance", "datalake"})


def default_args(**overrides: Any) -> dict[str, Any]:
    """``default_args`` for a DAG of this package: owner, retries with backoff, a time limit, and the
    task-level failure alert (sent on the final failure only, see :mod:`datalake.alerts`)."""
    from datalake.alerts import task_failure_alert

    config = get_config()
    args: dict[str, Any] = {
        "owner": config.owner,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": [task_failure_alert()],
    }
    args.update(overrides)
    return args


def dag_failure_callbacks() -> list[Any]:
    """The DAG-level failure callback: alerts for failed tasks that could not alert themselves."""
    from datalake.alerts import dag_failure_alert

    return [dag_failure_alert()]
