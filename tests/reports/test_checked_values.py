"""Every value that reaches a summary's SQL, an S3 key or the page is checked whole: a trailing newline, a
non-ASCII digit or an edited XCom is refused with the name of the value at fault."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from datalake.config import get_config
from datalake.reports.plan import checked_plan
from datalake.reports.queries import check_day, inventory_values, strava_values
from datalake.reports.store import ReportStore
from tests.environment import environment


@pytest.mark.parametrize("value", ["2026-11-20\n", "2026-11-20\nX", "٢٠٢٦-11-20", " 2026-11-20", "20261120"])
def test_a_report_day_must_be_the_whole_value(value):
    with pytest.raises(ValueError, match="the run's day must look like YYYY-MM-DD"):
        check_day(value, "the run's day")


def test_a_report_day_is_a_calendar_date():
    assert check_day("2028-02-29").isoformat() == "2028-02-29"
    with pytest.raises(ValueError, match="not a calendar date"):
        check_day("2026-02-30")


@pytest.mark.parametrize("table", ["activities\n", "activities;", "act-ivities", "", None])
def test_a_table_name_must_be_a_plain_identifier_to_the_end(test_config, table):
    config = dataclasses.replace(test_config, strava=dataclasses.replace(test_config.strava, table=table))
    with pytest.raises(ValueError, match="strava: table must be a plain SQL identifier"):
        strava_values(config, "2026-11-20")


def test_a_partition_value_must_be_the_whole_value(test_config):
    inventory = test_config.inventories[0]
    with pytest.raises(ValueError, match="partition dt"):
        inventory_values(test_config, inventory, "2026-11-20-01-00\n", None)
    with pytest.raises(ValueError, match="previous partition dt"):
        inventory_values(test_config, inventory, "2026-11-20-01-00", "2026-11-19-01-00' OR '1'='1")


@pytest.mark.parametrize("value", ["2026-11-20\n", "2026-02-30", "٢٠٢٦-11-20"])
def test_the_day_parameter_of_a_manual_run_refuses_anything_but_a_date(dagbag, value):
    from airflow.sdk.definitions.param import ParamValidationError

    param = dagbag.dags["daily_summaries"].params.get_param("day")
    assert param.resolve("2026-11-20") == "2026-11-20"
    assert param.resolve(None) is None
    with pytest.raises(ParamValidationError):
        param.resolve(value)


def test_only_a_page_right_under_the_reports_prefix_is_a_day_of_the_list(local_aws, s3, test_config):
    """A page one folder deeper would be listed, then answer 404: the page of a day is read from its key."""
    bucket = "reports-checked-keys"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="reports/archive/2026-11-21/report.html", Body=b"<p>elsewhere</p>")
    s3.put_object(Bucket=bucket, Key="reports/2026-11-22/report.html", Body=b"<p>a report</p>")
    config = dataclasses.replace(test_config, reports=dataclasses.replace(test_config.reports, bucket=bucket))
    conn = json.dumps({"conn_type": "aws", "extra": {"endpoint_url": local_aws, "region_name": "us-east-1"}})
    with environment(AIRFLOW_CONN_AWS_DEFAULT=conn):
        assert ReportStore(config).list_days() == ["2026-11-22"]


# -- the plan read back from XCom (which the REST API can edit) ----------------------------------------------
@dataclasses.dataclass
class TaskInstance:
    """What a query task's context hands it: a task instance whose XCom of the plan is ``plan``."""

    plan: Any

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        assert (task_ids, key) == ("find_partitions", "return_value")
        return self.plan


def rendered(dagbag: Any, task_id: str, plan: Any) -> Any:
    task = copy.deepcopy(dagbag.dags["daily_summaries"].get_task(task_id))
    task.render_template_fields({"ti": TaskInstance(plan)})
    return task


def plan_of(**entries: dict[str, Any]) -> dict[str, Any]:
    """A plan of 2026-11-20 with ``entries``, every other source of the configuration skipped."""
    sources = {"strava", *(f"inventory_{inv.name}" for inv in get_config().inventories)}
    skipped = {"values": None, "reason": "no data"}
    return {"day": "2026-11-20", "sources": {source: entries.get(source, skipped) for source in sources}}


def strava_plan(**values: str) -> dict[str, Any]:
    config = get_config()
    return plan_of(strava={"kind": "strava", "values": {**strava_values(config, "2026-11-20"), **values}})


def test_an_edited_plan_cannot_choose_the_table_a_summary_reads(dagbag):
    plan = strava_plan(database="x; DROP TABLE y --", table="secrets", weeks_from="2000-01-01' OR '1'='1")
    task = rendered(dagbag, "strava.weekly", plan)
    config = get_config()
    assert f"FROM {config.strava.database}.{config.strava.table}" in task.query
    assert "DROP" not in task.query
    assert "secrets" not in task.query
    assert "OR '1'='1" not in task.query
    assert task.output_location.endswith("/summaries/strava/2026-11-20/")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"day": "2026-11-20\n"}, "the plan's day must look like YYYY-MM-DD"),
        ({"day": "2026-11-20' OR '1'='1"}, "the plan's day must look like YYYY-MM-DD"),
        ({"day": None}, "the plan's day must look like YYYY-MM-DD"),
        ({"sources": []}, r"the plan \(XCom of find_partitions\) is not a plan"),
        ({"sources": {}}, r"has no entry for the source 'strava'"),
    ],
)
def test_an_edited_plan_is_refused_naming_the_value_at_fault(dagbag, edit, message):
    with pytest.raises(ValueError, match=message):
        rendered(dagbag, "strava.weekly", {**strava_plan(), **edit})


def test_an_edited_partition_value_is_refused_naming_it(dagbag):
    inventory = get_config().inventories[0]
    values = inventory_values(get_config(), inventory, "2026-11-20-01-00", "2026-11-19-01-00")
    source = f"inventory_{inventory.name}"
    for key in ("dt", "previous_dt"):
        edited = {**values, key: "2026-11-19-01-00' OR '1'='1"}
        plan = plan_of(**{source: {"kind": "inventory", "values": edited}})
        with pytest.raises(ValueError, match=f"the plan's '{source}' {key.replace('_', ' ')} must look like"):
            rendered(dagbag, f"{source}.storage_classes", plan)


def test_a_query_result_read_back_by_the_publish_task_must_name_an_athena_query(dagbag):
    publish = dagbag.dags["daily_summaries"].get_task("publish_report")
    good = {"query_execution_id": "0b9a4d43-9f43-4c39-9c55-3e5f0c1e2f7a"}
    assert publish._checked_output(good, "strava.weekly") == good
    with pytest.raises(
        ValueError, match=r"the query_execution_id of strava.weekly \(XCom\) must be an Athena"
    ):
        publish._checked_output({"query_execution_id": "../../other"}, "strava.weekly")
    with pytest.raises(ValueError, match=r"the result of strava.weekly \(XCom\) is not a mapping"):
        publish._checked_output("0b9a4d43", "strava.weekly")


def test_the_publish_task_checks_the_whole_plan_again():
    config = get_config()
    plan = {"day": "2026-11-20", "sources": {"strava": {"values": None, "reason": "no data yet"}}}
    with pytest.raises(ValueError, match="has no entry for the source 'inventory_media_daily'"):
        checked_plan(plan, config)
    plan["sources"]["inventory_media_daily"] = {"values": {"dt": "2026-11-20-01-00\n"}}
    with pytest.raises(ValueError, match="the plan's 'inventory_media_daily' dt must look like"):
        checked_plan(plan, config)
