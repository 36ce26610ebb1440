"""The callables behind the ``strava_activities`` DAG's tasks (the DAG file only wires them).

The DAG file imports this module at parse time, so the heavy imports live inside the functions.

The access token never travels through XCom: ``refresh_token`` writes it to the connection, and
``extract_activities`` reads it from there. What goes to XCom is a small summary without secrets.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from datalake.config import DatalakeConfig, get_config
from datalake.dag_defaults import check_first_day
from datalake.strava.errors import StravaRateLimited
from datalake.strava.layout import curated_location, run_label
from datalake.strava.window import Window, run_window

if TYPE_CHECKING:
    from datalake.strava.hook import StravaHook

log = logging.getLogger(__name__)

# How long the extraction may wait for a rate-limit window, at most: keep it below the task's
# execution_timeout (the DAG's EXTRACT_TIMEOUT) so a wait never turns into a timeout.
EXTRACT_TIMEOUT = timedelta(hours=2)
WAIT_BUDGET = EXTRACT_TIMEOUT - timedelta(minutes=15)

# The 15-minute rate limit is over by the next quarter hour: retry then, not after the default backoff.
RATE_LIMIT_RETRIES = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception=StravaRateLimited, action=RetryAction.RETRY, retry_delay=timedelta(minutes=15))
    ]
)

# The rate-limit usage the last extraction saw (numbers only), so the next one, a new process that
# would otherwise send its first request blind, waits instead of meeting a 429 at a window's end.
RATE_LIMITS_VARIABLE = "datalake_strava_rate_limits"


def _last_rate_limits() -> Any:
    from airflow.sdk import Variable

    try:
        return Variable.get(RATE_LIMITS_VARIABLE, default=None, deserialize_json=True)
    except Exception:  # outside a task, or an unreadable value: start as a first request would
        log.debug("No rate-limit usage to start from", exc_info=True)
        return None


def _remember_rate_limits(state: dict[str, Any]) -> None:
    from airflow.sdk import Variable

    try:
        Variable.set(RATE_LIMITS_VARIABLE, state, serialize_json=True)
    except Exception:  # a nicety: the next extraction then learns the usage from its first answer
        log.warning("Could not record the rate-limit usage in the Variable %s", RATE_LIMITS_VARIABLE)


def sql_params(config: DatalakeConfig) -> dict[str, str]:
    """``params`` of the Strava DDL templates (``include/sql/strava/``)."""
    return {
        "database": config.strava.database,
        "table": config.strava.table,
        "location": curated_location(config.lake.bucket),
    }


def refresh_token(
    data_interval_start: datetime | None = None, config: DatalakeConfig | None = None
) -> dict[str, Any]:
    """Refresh the Strava access token if it expires within the margin; persist before any use.

    First of all, a run for a day before ``strava.start_date`` fails (see ``dag_defaults``).
    """
    from datalake.strava.hook import StravaHook

    config = config or get_config()
    check_first_day(config.strava.start_date, "strava.start_date", data_interval_start)
    hook = StravaHook(config.strava.conn_id, airflow_api_conn_id=config.strava.airflow_api_conn_id)
    return hook.ensure_fresh_token().as_dict()


def window_of(data_interval_end: datetime, config: DatalakeConfig) -> Window:
    """The days the run whose interval ends at ``data_interval_end`` lists (:mod:`datalake.strava.window`)."""
    return run_window(data_interval_end, config.strava.reconcile_days, config.strava.start_date)


def window_days(data_interval_end: datetime) -> list[str]:
    """The ``dt`` values of that window with the configuration in use: the DAG's macro
    ``strava_window_days``, which ``include/sql/strava/add_partitions.sql`` registers."""
    return [day.isoformat() for day in window_of(data_interval_end, get_config()).days]


def extract_activities(
    data_interval_start: datetime,
    data_interval_end: datetime,
    config: DatalakeConfig | None = None,
    *,
    hook: StravaHook | None = None,
    s3_client: Any = None,
) -> dict[str, Any]:
    """List the run's window once and rewrite the days Strava changed (see ``extract.py``)."""
    # Imported here: pyarrow and the HTTP client are the task's business, not the DAG parser's.
    from datalake.strava.client import RateLimits
    from datalake.strava.extract import extract_window
    from datalake.strava.hook import StravaHook

    config = config or get_config()
    window = window_of(data_interval_end, config)
    if window.empty:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(
            f"No whole UTC day between strava.start_date = {config.strava.start_date} and the end of "
            f"this interval ({data_interval_end.isoformat()}): nothing to list yet."
        )
    hook = hook or StravaHook(config.strava.conn_id, airflow_api_conn_id=config.strava.airflow_api_conn_id)
    if s3_client is None:
        from datalake import aws

        s3_client = aws.s3(config)
    client = hook.client(deadline=time.time() + WAIT_BUDGET.total_seconds())
    client.limits = RateLimits.restore(_last_rate_limits(), time.time())
    try:
        result = extract_window(
            client, s3_client, config.lake.bucket, window, run_label=run_label(data_interval_start)
        )
    finally:
        if client.limits.seen_at is not None:
            _remember_rate_limits(client.limits.snapshot())
    return result.as_dict()


def asset_extra(
    extracted: Any, data_interval_end: datetime, config: DatalakeConfig | None = None
) -> dict[str, list[str]]:
    """The ``strava_activities`` asset event's extra: ``{"days": [...]}``, the days the run rewrote.

    ``extracted`` is the extraction's XCom, which the REST API can edit: each day must be a day of the
    run's window, written as ``YYYY-MM-DD``.
    """
    config = config or get_config()
    window = window_of(data_interval_end, config)
    days = extracted.get("days") if isinstance(extracted, dict) else None
    if not isinstance(days, list):
        raise ValueError(f"the extraction's XCom has no list of days: {type(extracted).__name__}")
    allowed = {day.isoformat() for day in window.days}
    wrong = [day for day in days if not isinstance(day, str) or day not in allowed]
    if wrong:
        raise ValueError(f"the extraction's XCom lists days outside the window {window}: {wrong[:5]!r}")
    return {"days": sorted(set(days))}
