"""``daily_summaries`` run for real (``dag.test()``, the local AWS with the Athena that runs SQL) with each
source there or missing: a missing source is skipped with its reason, a failed query fails its section
only, and the run alerts once (read back from the SNS topic's SQS queue), or not at all when all is well.

Each test lands its own data under names of its own: Strava activities as the Strava DAG writes them
(curated Parquet per day, its table from ``include/sql/strava/``), an inventory drop in Amazon's layout
registered as the inventory DAG registers it.
"""

from __future__ import annotations

import html
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datalake.config import CONFIG_ENV_VAR, SQL_DIR, DatalakeConfig, get_config
from datalake.inventory import ddl, partitions
from datalake.inventory.manifest import schema_columns
from datalake.strava.layout import curated_key
from datalake.strava.schema import to_record_batch, to_row
from datalake.strava.tasks import sql_params
from devstack.inventory_drops import write_config_drop
from devstack.strava_api import seed_activities
from tests.athena import run_sql
from tests.dags import parsed_dag, run_dag
from tests.environment import environment

from .dag_processor import run_failure_callback
from .test_alerts import parse

pytestmark = pytest.mark.usefixtures("airflow_db")

DAY = date(2026, 11, 20)
REGION = "us-east-1"


@pytest.fixture
def config(ops_config: DatalakeConfig, tmp_path: Path, local_aws: str) -> Iterator[DatalakeConfig]:
    """The ops configuration with databases and an inventory bucket of this test's own, active."""
    suffix = uuid.uuid4().hex[:8]
    raw = yaml.safe_load(Path(ops_config.source).read_text())
    raw["strava"]["database"] = f"ops_strava_{suffix}"
    for inventory in raw["inventories"]:
        inventory["database"] = f"ops_inventory_{suffix}"
        inventory["destination_bucket"] = f"ops-drops-{suffix}"
    path = tmp_path / "datalake.yaml"
    path.write_text(yaml.safe_dump(raw))
    with environment(**{CONFIG_ENV_VAR: str(path)}):
        config = get_config()
        boto3.client("s3", endpoint_url=local_aws, region_name=REGION).create_bucket(
            Bucket=config.inventories[0].destination_bucket
        )
        yield config


def athena() -> Any:
    return boto3.client("athena", region_name=REGION)


def land_strava(config: DatalakeConfig, *, without_column: str | None = None) -> list[dict[str, Any]]:
    """Two months of activities up to DAY, as the Strava DAG lands them (``without_column``: a table
    created without that column, as a hand-edited table might be)."""
    activities = seed_activities(40, seed=3, end=datetime(2026, 11, 21, tzinfo=UTC), days=60)
    s3 = boto3.client("s3", region_name=REGION)
    env = jinja2.Environment(  # noqa: S701 - SQL, not HTML
        loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=jinja2.StrictUndefined
    )
    env.filters["ds"] = lambda value: value.strftime("%Y-%m-%d")
    params = sql_params(config)
    run_sql(athena(), env.get_template("strava/create_database.sql").render(params=params))
    create_table = env.get_template("strava/create_table.sql").render(params=params)
    if without_column:
        create_table = "\n".join(
            line for line in create_table.splitlines() if f"`{without_column}`" not in line
        )
    run_sql(athena(), create_table)
    for offset in range(60, -1, -1):
        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) - timedelta(days=offset)
        rows = [to_row(a) for a in activities if a["start_date"][:10] == start.date().isoformat()]
        if rows:
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_batches([to_record_batch(rows)]), buffer)
            s3.put_object(Bucket=config.lake.bucket, Key=curated_key(start), Body=buffer.getvalue())
        run_sql(
            athena(),
            env.get_template("strava/add_partitions.sql").render(
                params=params, data_interval_end=start, strava_window_days=lambda end: [end.date()]
            ),
        )
    return [a for a in activities if a["start_date"][:10] <= DAY.isoformat()]


def land_inventory(config: DatalakeConfig) -> Any:
    """The drop of DAY in Amazon's layout, its table and partition made as the inventory DAG makes them."""
    inventory = config.inventories[0]
    s3 = boto3.client("s3", region_name=REGION)
    drop = write_config_drop(s3, inventory, DAY, n=200, files=1)
    columns = schema_columns(inventory.format, drop.manifest["fileSchema"])
    run_sql(athena(), f"CREATE DATABASE IF NOT EXISTS {inventory.database}")
    run_sql(athena(), ddl.render("create_table.sql", inventory, drop={"columns": columns}))
    partitions.add_partition(boto3.client("glue", region_name=REGION), inventory, drop.dt, columns)
    return drop


def summaries_dag() -> Any:
    """The DAG as parsed now, without its deadline: Airflow 3.3.2's ``dag.test()`` fails a DAG that has
    one when its run succeeds (``DagRun.update_state`` looks the SDK's DeadlineAlert up as a database
    id). The deadline is tested on the real stack (tests/e2e/test_late_summary.py)."""
    dag = parsed_dag("daily_summaries")
    dag.deadline = None
    return dag


def summarise(log_dir: Path, dag: Any = None) -> tuple[Any, dict[str, str]]:
    """One run of the real DAG for DAY, its DAG-level failure callback run as the dag-processor runs it
    (``dag.test()`` would call it in this process, where it sees the last failed task only): the run and
    its task states."""
    dag = dag or summaries_dag()
    dag.on_failure_callback = None
    run = run_dag(dag, run_conf={"day": DAY.isoformat()})
    if run.state == "failed":
        run_failure_callback(dag.dag_id, run.run_id, "daily_summaries.py", log_dir / "dag-processor.log")
    return run, {ti.task_id: ti.state for ti in run.get_task_instances()}


def alert_records(run: Any) -> list[str]:
    """The alert records of the run's tasks still in the metadata DB (the DAG-level callback removes them)."""
    from airflow.sdk import Variable

    from datalake.alerts import record_key

    keys = [record_key(run.dag_id, run.run_id, ti.task_id) for ti in run.get_task_instances()]
    return [key for key in keys if Variable.get(key, default=None) is not None]


def stored_report(config: DatalakeConfig) -> str:
    s3 = boto3.client("s3", region_name=REGION)
    key = f"{config.reports.prefix}/{DAY.isoformat()}/report.html"
    return s3.get_object(Bucket=config.reports.bucket, Key=key)["Body"].read().decode()


def test_with_only_an_inventory_the_report_shows_it_and_says_why_strava_is_missing(
    config, alert_inbox, tmp_path
):
    land_inventory(config)

    run, states = summarise(tmp_path)

    assert run.state == "success", states
    assert {states[t] for t in states if t.startswith("strava.")} == {"skipped"}
    page = stored_report(config)
    assert "Storage: s3://media-prod (media_daily)" in page
    assert 'aria-label="Bytes per storage class"' in page
    assert "no data yet, the strava_activities DAG has not run" in page
    assert alert_inbox.messages() == []


def test_with_only_strava_the_report_shows_it_and_says_why_the_inventory_is_missing(
    config, alert_inbox, tmp_path
):
    land_strava(config)

    run, states = summarise(tmp_path)

    assert run.state == "success", states
    assert {states[t] for t in states if t.startswith("inventory_media_daily.")} == {"skipped"}
    page = stored_report(config)
    assert 'aria-label="Weekly distance by sport type"' in page
    assert f"no inventory drop on or before {DAY.isoformat()}" in page
    assert alert_inbox.messages() == []


def test_with_both_sources_the_report_shows_both_and_nothing_alerts(config, alert_inbox, tmp_path):
    activities = land_strava(config)
    land_inventory(config)

    run, states = summarise(tmp_path)

    assert run.state == "success", states
    refresh = states.pop("refresh_earlier_reports")
    assert (set(states.values()), refresh) == ({"success"}, "skipped")  # no earlier day to refresh
    page = stored_report(config)
    assert 'aria-label="Weekly distance by sport type"' in page
    assert 'aria-label="Bytes per storage class"' in page
    longest = max(activities, key=lambda a: a["distance"])
    assert html.escape(longest["name"]) in page
    assert "No data for this day" not in page
    assert alert_inbox.messages() == []


def test_a_failing_query_fails_its_section_only_and_the_run_alerts_once(config, alert_inbox, tmp_path):
    """strava_longest alone reads `name`; the table was created without that column."""
    land_strava(config, without_column="name")
    land_inventory(config)

    run, states = summarise(tmp_path)

    assert run.state == "failed"
    assert states["strava.longest"] == "failed"
    assert states["strava.weekly"] == states["strava.year_to_date"] == "success"
    assert states["publish_report"] == "failed"
    page = stored_report(config)  # written all the same
    assert "1 summary of this section failed" in page
    assert "Longest activities: Athena query" in page
    assert "COLUMN_NOT_FOUND" in page
    assert 'aria-label="Weekly distance by sport type"' in page
    assert 'aria-label="Bytes per storage class"' in page
    messages = alert_inbox.messages()
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["task"], fields["run"], fields["try"]) == ("publish_report", run.run_id, "1")
    assert "1 of its summaries failed" in fields["error"]
    assert "Training (Strava) / Longest activities" in fields["error"]
    assert "COLUMN_NOT_FOUND" in fields["error"]
    longest = next(ti for ti in run.get_task_instances() if ti.task_id == "strava.longest")
    assert longest.try_number == 1  # Athena marks a missing column not retryable: no retries
    assert alert_records(run) == []


def test_when_the_publish_task_cannot_alert_the_failed_query_is_alerted_at_dag_level(
    config, alert_inbox, tmp_path
):
    """As when publish_report is killed (SIGKILL, out of memory) before its own callback could run."""
    land_strava(config, without_column="name")
    dag = summaries_dag()
    dag.get_task("publish_report").on_failure_callback = []

    run, _ = summarise(tmp_path, dag)

    assert run.state == "failed"
    messages = alert_inbox.messages()
    errors = {parse(m)["task"]: parse(m)["error"] for m in messages}
    assert sorted(errors) == ["publish_report", "strava.longest"], messages
    assert "publish_report, which reports its failures, sent no alert" in errors["strava.longest"]
    assert "failed without sending its own alert" in errors["publish_report"]


def test_a_day_on_which_no_source_has_data_fails_once_naming_each_reason(config, alert_inbox, tmp_path):
    run, states = summarise(tmp_path)

    assert run.state == "failed"
    assert states["find_partitions"] == "failed"
    messages = alert_inbox.messages()
    assert len(messages) == 1, messages
    fields = parse(messages[0])
    assert (fields["task"], fields["try"]) == ("find_partitions", "1")
    assert f"No source has data for {DAY.isoformat()}" in fields["error"]
    assert "strava: no data yet, the strava_activities DAG has not run" in fields["error"]
    assert "inventory_media_daily: no inventory drop on or before" in fields["error"]


def test_earlier_days_the_new_data_changed_are_reported_again_only_where_a_report_exists(config):
    """The plan of a run triggered by events of three days: the newest is its own report day; of the two
    earlier ones, the day that already has a report is refreshed in a run of its own, the other not."""
    from types import SimpleNamespace

    from datalake.assets import inventory_asset, strava_activities_asset
    from datalake.reports.plan import plan_for_run
    from datalake.reports.store import ReportStore
    from datalake.reports.tasks import refresh_requests

    inventory = config.inventories[0]
    s3 = boto3.client("s3", region_name=REGION)
    glue = boto3.client("glue", region_name=REGION)
    drop = land_inventory(config)
    earlier = write_config_drop(s3, inventory, DAY - timedelta(days=1), n=20, files=1)
    partitions.add_partition(
        glue, inventory, earlier.dt, schema_columns("Parquet", earlier.manifest["fileSchema"])
    )
    reported, unreported = DAY - timedelta(days=1), DAY - timedelta(days=2)
    ReportStore(config).write(reported.isoformat(), "<html></html>", {"day": reported.isoformat()})

    events = {
        inventory_asset(inventory): [
            SimpleNamespace(extra={"dt": earlier.dt}),
            SimpleNamespace(extra={"dt": drop.dt}),
        ],
        strava_activities_asset(config): [SimpleNamespace(extra={"days": [unreported.isoformat()]})],
    }
    plan = plan_for_run(config, conf_day=None, triggering_asset_events=events, run_after=None)

    assert plan["day"] == DAY.isoformat()
    assert plan["sources"][f"inventory_{inventory.name}"]["values"]["dt"] == drop.dt
    assert plan["refresh_days"] == [reported.isoformat()]
    assert refresh_requests(plan, "asset_triggered__x") == [
        {
            "conf": {"day": reported.isoformat()},
            "trigger_run_id": f"refresh__{reported.isoformat()}__asset_triggered__x",
        }
    ]
    # a run asked for one day reports that day and refreshes nothing
    asked = plan_for_run(
        config, conf_day=reported.isoformat(), triggering_asset_events=events, run_after=None
    )
    assert (asked["day"], asked["refresh_days"]) == (reported.isoformat(), [])
