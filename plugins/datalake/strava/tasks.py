"""The callables behind the ``strava_activities`` DAG's tasks (the DAG file only wires them).

The DAG file imports this module at parse time, so the heavy imports live inside the functions.

The access token never travels through XCom: ``refresh_token`` writes it to the connection, and
``extract_activities`` reads it from there. What goes to XCom is a small summary without secrets.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from datalake.config import DatalakeConfig, get_config
from datalake.dag_defaults import check_first_day
from datalake.strava.errors import StravaRateLimited
from datalake.strava.layout import (
    DAY_TABLE_NAMES,
    GEAR_TABLE,
    STREAMS_TABLE,
    curated_location,
    run_label,
    table_location,
)
from datalake.strava.window import Window, run_window

if TYPE_CHECKING:
    from datalake.strava.details import DetailOptions
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


def detail_tables(config: DatalakeConfig) -> list[str]:
    """The detail tables the configuration asks for: none without ``strava.details``."""
    if not config.strava.details:
        return []
    return [*DAY_TABLE_NAMES, GEAR_TABLE, *([STREAMS_TABLE] if config.strava.streams else [])]


def detail_table_params(config: DatalakeConfig, table: str) -> dict[str, Any]:
    """``params`` of ``include/sql/strava/create_detail_table.sql`` for ``table``."""
    return {
        "database": config.strava.database,
        "table": table,
        "location": table_location(config.lake.bucket, table),
        "projection_start": None if table == GEAR_TABLE else config.strava.start_date,
    }


def detail_columns(table: str) -> list[tuple[str, str]]:
    """(name, Athena type) of a detail table's columns: the DAG's macro ``strava_detail_columns``,
    rendered when the task runs (the schema module needs pyarrow, which a DAG parse must not load)."""
    from datalake.strava.detail_schema import TABLES

    if table not in TABLES:
        raise ValueError(f"{table!r} is no Strava detail table (known: {', '.join(TABLES)})")
    return [(c.name, c.athena_type) for c in TABLES[table].columns]


def schedule(config: DatalakeConfig) -> Any:
    """The DAG's schedule: its intervals, or (with ``strava.events_queue_url``) its intervals or the
    push events on that queue (:mod:`datalake.strava.push`)."""
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(config.strava.schedule, timezone="UTC")
    if config.strava.events_queue_url is None:
        return timetable
    from datalake.events import queue_asset

    return AssetOrTimeSchedule(timetable=timetable, assets=[queue_asset(config.strava.events_queue_url)])


def _push_batch(config: DatalakeConfig, dag_run: Any, triggering_asset_events: Any) -> Any:
    """The push events of a run the queue started; None for any other run."""
    from datalake.events import queue_asset, received_messages, started_by_queue
    from datalake.strava.push import sort_events

    if not started_by_queue(dag_run) or config.strava.events_queue_url is None:
        return None
    return sort_events(
        received_messages(triggering_asset_events, queue_asset(config.strava.events_queue_url))
    )


def refresh_token(
    data_interval_start: datetime | None = None,
    config: DatalakeConfig | None = None,
    *,
    dag_run: Any = None,
    triggering_asset_events: Any = None,
) -> dict[str, Any]:
    """Refresh the Strava access token if it expires within the margin; persist before any use.

    First of all, a run for a day before ``strava.start_date`` fails (see ``dag_defaults``); then a push
    event that the athlete revoked the app, or a deauthorisation recorded earlier that nobody answered
    with a new refresh token, fails the run before any call to Strava (:mod:`datalake.strava.authorisation`).
    """
    from datalake.strava.authorisation import check_authorised, record_deauthorisation
    from datalake.strava.hook import StravaHook

    config = config or get_config()
    check_first_day(config.strava.start_date, "strava.start_date", data_interval_start)
    hook = StravaHook(config.strava.conn_id, airflow_api_conn_id=config.strava.airflow_api_conn_id)
    refresh = hook.tokens().refresh_token
    batch = _push_batch(config, dag_run, triggering_asset_events)
    if batch is not None and batch.deauthorisations:
        event = batch.deauthorisations[-1]
        record_deauthorisation(config.strava.conn_id, refresh, event.event_time, event.owner_id)
    check_authorised(config.strava.conn_id, refresh)
    return hook.ensure_fresh_token().as_dict()


def detail_options(config: DatalakeConfig) -> DetailOptions | None:
    """What the details step of a run does (:mod:`datalake.strava.details`); None without details."""
    from datalake.strava.budget import Budget
    from datalake.strava.details import DetailOptions

    if not config.strava.details:
        return None
    return DetailOptions(
        Budget(config.strava.details_budget_share),
        today=datetime.now(UTC).date(),
        streams=config.strava.streams,
        gear_refresh_days=config.strava.gear_refresh_days,
    )


def window_of(data_interval_end: datetime, config: DatalakeConfig) -> Window:
    """The days the run whose interval ends at ``data_interval_end`` lists (:mod:`datalake.strava.window`)."""
    return run_window(data_interval_end, config.strava.reconcile_days, config.strava.start_date)


def window_days(data_interval_end: datetime) -> list[str]:
    """The ``dt`` values of that window with the configuration in use: the DAG's macro
    ``strava_window_days``, which ``include/sql/strava/add_partitions.sql`` registers."""
    return [day.isoformat() for day in window_of(data_interval_end, get_config()).days]


def pushed_days(extracted: Any, key: str, config: DatalakeConfig | None = None) -> list[str]:
    """The days of a push-event run's XCom under ``key``, checked: each a real day (written back as
    ``YYYY-MM-DD``, so nothing else reaches SQL), none before ``strava.start_date`` or after tomorrow."""
    config = config or get_config()
    days = extracted.get(key) if isinstance(extracted, dict) else None
    if not isinstance(days, list):
        raise ValueError(f"the extraction's XCom has no list {key!r}: {type(extracted).__name__}")
    first, last = date.fromisoformat(config.strava.start_date), datetime.now(UTC).date() + timedelta(days=1)
    checked = []
    for day in days:
        try:
            parsed = date.fromisoformat(day) if isinstance(day, str) and len(day) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None or not first <= parsed <= last:
            raise ValueError(f"the extraction's XCom {key!r} holds {day!r}, no day from {first} to {last}")
        checked.append(parsed.isoformat())
    return sorted(set(checked))


def pushed_partition_days(ti: Any) -> list[str]:
    """The days a push-event run listed, which ``include/sql/strava/add_partitions.sql`` registers (the
    DAG's macro ``strava_pushed_days``), from its extraction's XCom, checked (:func:`pushed_days`)."""
    return pushed_days(ti.xcom_pull(task_ids="extract_activities"), "listed_days")


def extract_activities(
    data_interval_start: datetime,
    data_interval_end: datetime,
    config: DatalakeConfig | None = None,
    *,
    hook: StravaHook | None = None,
    s3_client: Any = None,
    dag_run: Any = None,
    triggering_asset_events: Any = None,
    athena_client: Any = None,
    glue_client: Any = None,
) -> dict[str, Any]:
    """List the run's window once and rewrite the days Strava changed (see ``extract.py``); in a run
    the queue's push events started, re-reconcile the days they touch (see ``push.py``)."""
    # Imported here: pyarrow and the HTTP client are the task's business, not the DAG parser's.
    from datalake.strava.client import RateLimits
    from datalake.strava.extract import extract_window
    from datalake.strava.hook import StravaHook

    config = config or get_config()
    batch = _push_batch(config, dag_run, triggering_asset_events)
    if batch is not None:
        return _extract_pushed(config, batch, dag_run, hook, s3_client, athena_client, glue_client)
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
            client,
            s3_client,
            config.lake.bucket,
            window,
            run_label=run_label(data_interval_start),
            details=detail_options(config),
        )
    finally:
        if client.limits.seen_at is not None:
            _remember_rate_limits(client.limits.snapshot())
    return result.as_dict()


def _extract_pushed(
    config: DatalakeConfig,
    batch: Any,
    dag_run: Any,
    hook: StravaHook | None,
    s3_client: Any,
    athena_client: Any,
    glue_client: Any,
) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException

    from datalake import aws
    from datalake.strava.client import RateLimits
    from datalake.strava.hook import StravaHook
    from datalake.strava.lookup import activity_days
    from datalake.strava.push import recent_days, reconcile_pushed
    from datalake.strava.window import day_of

    if not batch.activity_ids:
        raise AirflowSkipException(f"no activity event to reconcile: {batch.counts()}")
    known = activity_days(
        config,
        batch.activity_ids,
        athena=athena_client or aws.athena(config),
        glue=glue_client or aws.glue(config),
    )
    ran_at = getattr(dag_run, "run_after", None) or datetime.now(UTC)
    hook = hook or StravaHook(config.strava.conn_id, airflow_api_conn_id=config.strava.airflow_api_conn_id)
    client = hook.client(deadline=time.time() + WAIT_BUDGET.total_seconds())
    client.limits = RateLimits.restore(_last_rate_limits(), time.time())
    first_allowed = datetime.fromisoformat(config.strava.start_date).date()
    try:
        result = reconcile_pushed(
            batch,
            client,
            s3_client or aws.s3(config),
            config.lake.bucket,
            known_days=known,
            recent=recent_days(day_of(datetime.now(UTC)), config.strava.reconcile_days, first_allowed),
            first_allowed=first_allowed,
            run_label=run_label(ran_at),
            details=detail_options(config),
        )
    finally:
        if client.limits.seen_at is not None:
            _remember_rate_limits(client.limits.snapshot())
    log.info(
        "Push events %s: listed %s (%d API calls); rewrote %s",
        batch.counts(),
        ", ".join(result["windows"]) or "nothing",
        result["api_calls"],
        ", ".join(result["days"]) or "no day",
    )
    return result


def asset_extra(
    extracted: Any,
    data_interval_end: datetime | None,
    config: DatalakeConfig | None = None,
    *,
    dag_run: Any = None,
) -> dict[str, list[str]]:
    """The ``strava_activities`` asset event's extra: ``{"days": [...]}``, the days the run rewrote
    (their activities, or, with ``strava.details``, their detail tables: the report's calories and gear
    then refresh too; a backlog day drained after it left the window is not named).

    ``extracted`` is the extraction's XCom, which the REST API can edit: each day must be a day of the
    run's window (a push-event run, without a data interval: a real day, :func:`pushed_days`), written
    as ``YYYY-MM-DD``.
    """
    from datalake.events import started_by_queue

    config = config or get_config()
    if data_interval_end is None or started_by_queue(dag_run):
        return {"days": pushed_days(extracted, "days", config)}
    window = window_of(data_interval_end, config)
    days = extracted.get("days") if isinstance(extracted, dict) else None
    if not isinstance(days, list):
        raise ValueError(f"the extraction's XCom has no list of days: {type(extracted).__name__}")
    allowed = {day.isoformat() for day in window.days}
    wrong = [day for day in days if not isinstance(day, str) or day not in allowed]
    if wrong:
        raise ValueError(f"the extraction's XCom lists days outside the window {window}: {wrong[:5]!r}")
    details = extracted.get("details") or {}
    detail_days = details.get("days") if isinstance(details, dict) else None
    if not isinstance(detail_days, list):
        detail_days = []
    return {"days": sorted(set(days) | {day for day in detail_days if day in allowed})}
