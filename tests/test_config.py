"""The configuration file is checked value by value when it loads; a broken one fails naming the file,
the key path and the rule, before any DAG is built."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from datalake.config import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    ConfigError,
    DatalakeConfig,
    load_config,
    parse_config,
)
from tests.dags import DAGS, parse_dags
from tests.environment import environment

DEFAULT: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
IDENTIFIER = "must match [a-z][a-z0-9_]*"
CONN_ID = "must match [A-Za-z0-9_.-]+"
BUCKET = "must be an S3 bucket name: "
BUCKET_CHARS = (
    BUCKET + "lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
)
RESERVED = BUCKET + "not a prefix or suffix Amazon S3 reserves"
QUOTES = "must not hold quotes or backticks (they would end a quoted SQL string or name)"
FLAG = "must be true or false, unquoted"
HOURS = "must be a number of hours above 0 and at most 8760 (a year)"
MINUTES = "must be a number of minutes above 0 and at most 525600 (a year)"
CRON = "must be a cron expression Airflow accepts"


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``inventories[0].table``-style ``path`` in ``raw``."""
    steps: list[str | int] = []
    for name, index in re.findall(r"([a-z_]+)|\[(\d+)\]", path):
        steps.append(name or int(index))
    node: Any = raw
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = value


def _changed(*changes: tuple[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(DEFAULT)
    for path, value in changes:
        _set(raw, path, value)
    return raw


def _error(raw: Any, source: str = "/etc/datalake.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, source)
    return caught.value


def test_the_shipped_configuration_follows_every_rule() -> None:
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.source == str(DEFAULT_CONFIG_PATH)
    assert [inv.name for inv in config.inventories] == [i["name"] for i in DEFAULT["inventories"]]


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        # identifiers reach DDL as they are written
        ("inventories[0].table", "media;drop", IDENTIFIER),
        ("inventories[0].table", "media`daily", IDENTIFIER),
        ("inventories[0].table", "Media", IDENTIFIER),
        ("inventories[0].database", "s3 inventory", IDENTIFIER),
        ("strava.database", "strava;DROP DATABASE x", IDENTIFIER),
        ("strava.table", "activities\n", IDENTIFIER),  # what ``$`` would have let through
        ("inventories[0].name", 5, IDENTIFIER),
        ("inventories[0].table", "t" * 256, "must be at most 255 characters"),
        # connection ids
        ("aws_conn_id", "aws/default", CONN_ID),
        ("strava.conn_id", "", CONN_ID),
        ("strava.airflow_api_conn_id", "airflow api", CONN_ID),
        ("alerts.slack_conn_id", None, CONN_ID),
        # bucket names, by Amazon S3's rules
        ("lake.bucket", "Data_Lake", BUCKET_CHARS),
        ("lake.bucket", "-lake", BUCKET_CHARS),
        ("lake.bucket", "ab", BUCKET + "3 to 63 characters"),
        ("lake.bucket", "b" * 64, BUCKET + "3 to 63 characters"),
        ("reports.bucket", "my..bucket", BUCKET + "no two dots in a row"),
        ("athena.results_bucket", "192.168.5.4", BUCKET + "not an IP address"),
        ("inventories[0].destination_bucket", "xn--inventory", RESERVED),
        ("inventories[0].source_bucket", "media-s3alias", RESERVED),
        ("inventories[0].source_bucket", ["media-prod"], BUCKET.rstrip(": ")),
        # prefixes reach SQL strings, S3 keys and templated fields
        ("inventories[0].destination_prefix", "inv'entory", QUOTES),
        ("inventories[0].destination_prefix", 'inv"entory', QUOTES),
        ("athena.results_prefix", "res`ults", QUOTES),
        ("reports.prefix", "reports;", "must not hold ';' (it would end an SQL statement)"),
        ("reports.prefix", "reports\nx", "must not hold control characters such as a newline"),
        ("inventories[0].destination_prefix", "../elsewhere", "must not hold '..'"),
        (
            "athena.results_prefix",
            "results/{{ conn.aws_default.password }}",
            "must not hold braces (Airflow would render them as a Jinja template)",
        ),
        (
            "athena.results_prefix",
            "res\\ults",
            "must not hold backslashes (Athena's DDL reads them as escapes)",
        ),
        ("inventories[0].config_id", "../daily", "must match [A-Za-z0-9_-][A-Za-z0-9._-]*"),
        # dates and schedules
        ("strava.start_date", "2025-02-30", "must be a real date (day is out of range for month)"),
        ("inventories[0].start_date", "01/11/2026", "must be a date, YYYY-MM-DD"),
        ("inventories[0].start_date", "2026-11-01\n", "must be a date, YYYY-MM-DD"),
        ("inventories[0].start_date", "20261101", "must be a date, YYYY-MM-DD"),  # ISO, not this format
        ("strava.schedule", "61 * * * *", CRON),
        ("strava.schedule", "@once", CRON),
        ("strava.schedule", "0 4 * *", CRON),
        # booleans and numbers
        ("inventories[0].partition_projection", "false", FLAG),
        ("inventories[0].partition_projection", 0, FLAG),
        ("inventories[0].wait_timeout_hours", 0, HOURS),
        ("inventories[0].wait_timeout_hours", "30", HOURS),
        ("inventories[0].wait_timeout_hours", True, HOURS),
        ("inventories[0].wait_timeout_hours", 8761, HOURS),
        ("athena.query_timeout_minutes", -5, MINUTES),
        ("alerts.summary_deadline_minutes", float("nan"), MINUTES),
        ("alerts.summary_deadline_minutes", float("inf"), MINUTES),
        # enums
        ("inventories[0].format", "parquet", "must be one of Parquet, CSV, ORC"),
        ("inventories[0].frequency", "hourly", "must be one of daily, weekly"),
        ("alerts.notifier", "pager", "must be one of sns, smtp, slack"),
        # AWS shapes and addresses
        ("region", "us-east-1; x", "must be an AWS region such as us-east-1"),
        ("athena.workgroup", "primary group", "must match [A-Za-z0-9._-]+"),
        (
            "alerts.sns_topic_arn",
            "arn:aws:sqs:us-east-1:123456789012:datalake-alerts",
            "must be an SNS topic ARN, arn:aws:sns:<region>:<12-digit account>:<topic>",
        ),
        ("alerts.smtp_to", "ops@example.com", "must be a list of e-mail addresses"),
        ("alerts.smtp_to", ["ops@example.com", "ops"], "must be an e-mail address such as ops@example.com"),
        ("owner", "", "must match \\w[\\w ,.@-]*"),
        # the report's insights
        ("reports.summary_table", "daily-storage", IDENTIFIER),
        ("reports.summary_prefix", "daily'storage", QUOTES),
        ("reports.trend_days", 1, "must be a whole number of days from 2 to 366"),
        ("reports.trend_days", 90.0, "must be a whole number of days from 2 to 366"),
        ("reports.savings.standard_age_days", True, "must be a whole number of days from 1 to 3650"),
        ("reports.savings.min_object_kb", -1, "must be a number of KB from 0 to 1048576"),
        ("reports.anomalies.change_share", 0, "must be a share above 0 and at most 100 (0.2 is 20 %)"),
        ("reports.anomalies.change_share", "20%", "must be a share above 0 and at most 100 (0.2 is 20 %)"),
        ("reports.anomalies.unencrypted", "yes", FLAG),
        ("inventories[0].region", "mars", "must be an AWS region such as us-east-1"),
        ("inventories[0].expected_classes", "STANDARD", "must be a list of storage classes"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_path_and_rule(path: str, value: Any, rule: str) -> None:
    error = _error(_changed((path, value)))
    assert len(error.problems) == 1, error.problems
    (problem,) = error.problems
    where = "alerts.smtp_to[1]" if isinstance(value, list) and path == "alerts.smtp_to" else path
    assert problem.startswith(f"{where}: {rule}"), problem
    assert ", got " in problem
    assert str(error) == f"/etc/datalake.yaml: {problem}"
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("inventories[0].wait_timeout_hours", 1.5),  # durations may be fractions
        ("athena.query_timeout_minutes", 0.5),
        ("alerts.summary_deadline_minutes", 90),
        ("strava.schedule", "@daily"),  # Airflow's presets
        ("strava.schedule", "30 3 * * 1-5"),
        ("inventories[0].destination_prefix", ""),  # reports delivered at the bucket's root
        ("inventories[0].destination_prefix", "/inventory/2026 reports/"),
        ("inventories[0].config_id", "Daily.Parquet_v2"),
        ("lake.bucket", "my.lake-1"),
        ("region", "us-gov-west-1"),
        ("aws_conn_id", "aws-prod.eu_1"),
        ("owner", "Data Platform, jane@example.com"),
        ("alerts.smtp_to", ["ops@example.com", "first.last+datalake@mail.example.org"]),
        ("alerts.sns_topic_arn", "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts.fifo"),
    ],
)
def test_values_within_the_rules_are_kept_as_written(path: str, value: Any) -> None:
    config = parse_config(_changed((path, value)))
    node: Any = config
    for name, index in re.findall(r"([a-z_]+)|\[(\d+)\]", path):
        node = getattr(node, name) if name else node[int(index)]
    assert node == (tuple(value) if isinstance(value, list) else value)


def test_an_unquoted_date_reads_as_its_text_and_a_quoted_false_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG_PATH.read_text()
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(text.replace('start_date: "2025-01-01"', "start_date: 2025-01-01"))
    assert yaml.safe_load(unquoted.read_text())["strava"]["start_date"] == date(2025, 1, 1)
    assert load_config(unquoted).strava.start_date == "2025-01-01"

    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(text.replace("partition_projection: false", 'partition_projection: "false"'))
    with pytest.raises(ConfigError) as caught:
        load_config(quoted)
    assert str(caught.value) == (
        f"{quoted}: inventories[0].partition_projection: must be true or false, unquoted, got 'false'"
    )


def test_every_problem_of_a_file_is_named_in_one_line() -> None:
    raw = _changed(("lake.bucket", "Lake"), ("inventories[0].table", "a;b"), ("alerts.notifier", "pager"))
    raw["lake"]["buckets"] = "typo"
    raw["inventories"][0].pop("database")
    error = _error(raw)
    assert error.problems == (
        "lake.buckets: unknown key (known here: bucket)",
        f"lake.bucket: {BUCKET_CHARS}, got 'Lake'",
        "alerts.notifier: must be one of sns, smtp, slack, got 'pager'",
        "inventories[0].database: is required",
        f"inventories[0].table: {IDENTIFIER}, got 'a;b'",
    )
    assert str(error) == "/etc/datalake.yaml: 5 problems: " + "; ".join(error.problems)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda raw: raw.update(lake=["datalake-lake"]), "lake: must be a mapping, got a list"),
        (
            lambda raw: raw.update(inventories={"media_daily": {}}),
            "inventories: must be a list of mappings, got a mapping",
        ),
        (lambda raw: raw["inventories"].append(5), "inventories[1]: must be a mapping, got 5"),
        (lambda raw: raw.pop("lake"), "lake.bucket: is required"),
        (
            lambda raw: raw.update(source="/elsewhere.yaml"),
            "source: unknown key (known here: aws_conn_id, region, owner, lake, athena, strava, alerts, "
            "reports, inventories, prices)",
        ),
        (
            lambda raw: raw["inventories"].append({**raw["inventories"][0], "table": "media_copy"}),
            "inventories[1].name: 'media_daily' is inventories[0]'s name too",
        ),
        (
            lambda raw: raw["inventories"].append({**raw["inventories"][0], "name": "media_copy"}),
            "inventories[1].table: s3_inventory.media_daily is inventories[0]'s table too",
        ),
        (
            lambda raw: raw["inventories"][0].update(database="strava", table="activities"),
            "inventories[0].table: strava.activities is strava's table too",
        ),
        (
            lambda raw: raw["alerts"].update(sns_topic_arn=None),
            "alerts.sns_topic_arn: is required with alerts.notifier: sns",
        ),
        (
            lambda raw: raw["alerts"].update(notifier="smtp"),
            "alerts.smtp_to: needs an address with alerts.notifier: smtp",
        ),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_by_name(
    change: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    raw = copy.deepcopy(DEFAULT)
    change(raw)
    assert _error(raw).problems == (problem,)


def test_every_field_of_the_configuration_declares_the_rule_its_key_is_checked_by() -> None:
    """A field added without a rule would not be read from the file at all (its key: "unknown")."""
    unruled, todo = [], [DatalakeConfig]
    not_keys = {(DatalakeConfig, "source"), (DatalakeConfig, "prices_overridden")}
    while todo:
        cls = todo.pop()
        for spec in fields(cls):
            nested = spec.metadata.get("section") or spec.metadata.get("sections")
            mapped = spec.metadata.get("mapping")
            if nested:
                todo.append(nested)
            elif mapped:
                if isinstance(mapped[1], type):
                    todo.append(mapped[1])
            elif "rule" not in spec.metadata and (cls, spec.name) not in not_keys:
                unruled.append(f"{cls.__name__}.{spec.name}")
    assert unruled == []


def test_the_shipped_price_table_has_its_date_source_and_every_storage_price() -> None:
    prices = load_config(DEFAULT_CONFIG_PATH).prices
    assert date.fromisoformat(prices.as_of)
    assert "aws.amazon.com/s3/pricing" in prices.source
    region = prices.regions["us-east-1"]
    assert {"STANDARD", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"} <= set(
        region.storage
    )
    assert set(region.intelligent_tiering) == {
        "FREQUENT",
        "INFREQUENT",
        "ARCHIVE_INSTANT_ACCESS",
        "ARCHIVE_ACCESS",
        "DEEP_ARCHIVE_ACCESS",
    }
    assert region.monitoring_per_1000_objects > 0
    assert {c for c, r in prices.rules.items() if r.min_billable_kb} == {
        "STANDARD_IA",
        "ONEZONE_IA",
        "GLACIER_IR",
    }
    assert {c: r.min_days for c, r in prices.rules.items() if r.min_days} == {
        "STANDARD_IA": 30,
        "ONEZONE_IA": 30,
        "GLACIER_IR": 90,
        "GLACIER": 90,
        "DEEP_ARCHIVE": 180,
    }


def test_prices_set_in_the_configuration_are_laid_over_the_shipped_table() -> None:
    raw = copy.deepcopy(DEFAULT)
    raw["prices"] = {
        "regions": {
            "us-east-1": {"storage": {"STANDARD": 0.021}},
            "eu-west-3": {"storage": {"STANDARD": 0.024}},
        }
    }
    raw["inventories"][0]["region"] = "eu-west-3"
    config = parse_config(raw)
    assert config.prices.regions["us-east-1"].storage["STANDARD"] == 0.021
    assert config.prices.regions["us-east-1"].storage["GLACIER_IR"] == 0.004  # the rest as shipped
    assert config.region_prices(config.inventories[0]).storage == {"STANDARD": 0.024}
    assert config.prices_overridden == (
        "prices.regions.us-east-1.storage.STANDARD",
        "prices.regions.eu-west-3.storage.STANDARD",
    )
    assert load_config(DEFAULT_CONFIG_PATH).prices_overridden == ()


@pytest.mark.parametrize(
    ("prices", "problem"),
    [
        (
            {"regions": {"us-east-1": {"storage": {"STANDARD": "cheap"}}}},
            "prices.regions.us-east-1.storage.STANDARD: must be a number of USD per GB-month from 0 to 1000, "
            "got 'cheap'",
        ),
        (
            {"regions": {"us-east-1": {"storage": {"standard": 0.02}}}},
            "prices.regions.us-east-1.storage.standard: the name must be an S3 storage class in capitals, "
            "such as STANDARD_IA, got 'standard'",
        ),
        (
            {"regions": {"us-east-1": {"intelligent_tiering": {"WARM": 0.01}}}},
            "prices.regions.us-east-1.intelligent_tiering.WARM: the name must be one of FREQUENT, "
            "INFREQUENT, ARCHIVE_INSTANT_ACCESS, ARCHIVE_ACCESS, DEEP_ARCHIVE_ACCESS, got 'WARM'",
        ),
        (
            {"rules": {"GLACIER": {"min_days": 90.5}}},
            "prices.rules.GLACIER.min_days: must be a whole number of days from 0 to 3650, got 90.5",
        ),
        (
            {"rules": {"GLACIER": {"minimum_days": 90}}},
            "prices.rules.GLACIER.minimum_days: unknown key (known here: min_billable_kb, min_days, "
            "overhead_kb, overhead_standard_kb, monitoring_min_kb)",
        ),
        ({"regions": ["us-east-1"]}, "prices.regions: must be a mapping, got a list"),
        (
            {"as_of": "2026-13-01"},
            "prices.as_of: must be a real date (month must be in 1..12), got '2026-13-01'",
        ),
    ],
)
def test_a_bad_price_is_refused_with_its_key_path(prices: dict[str, Any], problem: str) -> None:
    raw = copy.deepcopy(DEFAULT)
    raw["prices"] = prices
    assert _error(raw).problems == (problem,)


def test_an_inventory_in_a_region_without_prices_loads_and_has_no_prices() -> None:
    """A missing price list never stops a DAG: the report says the costs are unknown and what to add."""
    config = parse_config(_changed(("inventories[0].region", "eu-west-3")))
    assert config.inventory_region(config.inventories[0]) == "eu-west-3"
    assert config.region_prices(config.inventories[0]) is None
    config = parse_config(_changed(("region", "eu-west-3")))
    assert config.region_prices(config.inventories[0]) is None


def test_an_expected_class_must_be_a_storage_class_name() -> None:
    (problem,) = _error(_changed(("inventories[0].expected_classes", ["STANDARD", "glacier"]))).problems
    assert problem == (
        "inventories[0].expected_classes[1]: must be an S3 storage class in capitals, such as STANDARD_IA, "
        "got 'glacier'"
    )


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    assert str(_error(["lake"])) == "/etc/datalake.yaml: must hold a mapping"


def test_a_broken_configuration_is_one_import_error_per_dag_file_ending_in_the_message(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "datalake.yaml"
    bad.write_text(DEFAULT_CONFIG_PATH.read_text().replace("table: media_daily", 'table: "media;drop"'))
    message = f"{bad}: inventories[0].table: {IDENTIFIER}, got 'media;drop'"
    files = sorted(str(path) for path in DAGS.glob("*.py"))

    with environment(**{CONFIG_ENV_VAR: str(bad)}):
        bag = parse_dags()
    assert sorted(bag.import_errors) == files
    assert bag.dags == {}
    for path, error in bag.import_errors.items():
        # Airflow shows the last frames: the DAG file's call and the raise, then the message
        lines = error.strip().splitlines()
        assert lines[-1] == f"datalake.config.ConfigError: {message}", error
        assert f'File "{path}"' in lines[1], error
        assert lines[2].strip() == "config = get_config()", error

    with environment(**{CONFIG_ENV_VAR: str(bad), "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False"}):
        bag = parse_dags()
    assert bag.import_errors == dict.fromkeys(files, message)


def test_the_configuration_is_read_again_once_its_file_changes_and_only_then(tmp_path) -> None:
    from datalake.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, get_config
    from tests.environment import environment

    path = tmp_path / "datalake.yaml"
    path.write_text(DEFAULT_CONFIG_PATH.read_text())
    with environment(**{CONFIG_ENV_VAR: str(path)}):
        first = get_config()
        assert get_config() is first  # unchanged file: what was read is reused
        path.write_text(path.read_text().replace("owner: data-platform", "owner: storage-team"))
        second = get_config()
        assert (first.owner, second.owner) == ("data-platform", "storage-team")
        assert get_config() is second
