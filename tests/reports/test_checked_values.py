"""Every value that reaches a summary's SQL, an S3 key or the page is checked whole: a trailing newline, a
non-ASCII digit or an edited XCom is refused with the name of the value at fault."""

from __future__ import annotations

import dataclasses
import json

import pytest

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
        inventory_values(inventory, "2026-11-20-01-00\n", None)
    with pytest.raises(ValueError, match="previous partition dt"):
        inventory_values(inventory, "2026-11-20-01-00", "2026-11-19-01-00' OR '1'='1")


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
