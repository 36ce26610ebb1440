"""The daily storage summary: every summaries run writes its day's rows, a second backfill leaves the same
rows and objects, the trend reads only that table, and a day that changed too much alerts once.

The days are the simulated bucket's (``conftest.simulated``), the second with the planted anomaly;
expected answers are computed from the generated rows in plain Python.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import boto3
import pytest

from datalake.config import AnomaliesConfig
from datalake.reports import anomalies, history
from datalake.reports.queries import inventory_values, render_query
from datalake.reports.render import render_report
from datalake.reports.store import ReportStore
from datalake.reports.tasks import alert_anomalies
from tests.queues import subscribed

from . import expected
from .conftest import SIMULATED_DAYS, simulated_rows, summarise

DAYS = [d.isoformat() for d in SIMULATED_DAYS]


def summary_objects(s3: Any, config: Any, inventory: str) -> dict[str, tuple[str, bytes]]:
    """day -> (ETag, bytes) of an inventory's objects of the summary table."""
    found = {}
    bucket, prefix = config.reports.bucket, f"{config.reports.summary_prefix}/inventory={inventory}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"].split("/")[-2].removeprefix("day=")] = (item["ETag"], body)
    return found


def summary_rows(athena: Any, table: str, inventory: str) -> list[dict[str, Any]]:
    sql = f"SELECT * FROM {table} WHERE inventory = '{inventory}' ORDER BY day, storage_class"  # noqa: S608
    return athena.run(sql)[0]


@pytest.fixture(scope="module")
def backfills(summary_table, simulated, simulated_config, s3, glue, athena) -> list[dict[str, Any]]:
    """The simulated days summarised in order, twice (a backfill, then the same backfill again): per pass,
    the documents of the days, the summary table's objects and its rows as Athena reads them."""
    inventory = simulated_config.inventories[0].name
    passes = []
    for n in (1, 2):
        documents = {
            day: summarise(simulated_config, day, f"backfill__{n}__{day}", s3, glue, athena)[1]
            for day in DAYS
        }
        passes.append(
            {
                "documents": documents,
                "objects": summary_objects(s3, simulated_config, inventory),
                "rows": summary_rows(athena, summary_table, inventory),
            }
        )
    return passes


def insights(backfills: list[dict[str, Any]], day: str) -> dict[str, Any]:
    return backfills[-1]["documents"][day]["sources"]["inventory_sim_daily"]["insights"]


def current_per_class(day: date) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"objects": 0, "bytes": 0, "unencrypted": 0})
    for r in simulated_rows(day).to_pylist():
        if r["is_latest"] and not r["is_delete_marker"]:
            out[r["storage_class"]]["objects"] += 1
            out[r["storage_class"]]["bytes"] += r["size"]
            out[r["storage_class"]]["unencrypted"] += r["encryption_status"] == "NOT-SSE"
    return dict(out)


def test_a_backfill_twice_leaves_identical_rows_and_objects(backfills):
    first, second = backfills
    assert len(first["objects"]) == len(DAYS)
    assert second["objects"] == first["objects"]  # same keys, ETags and bytes
    assert second["rows"] == first["rows"]
    assert {r["day"] for r in first["rows"]} == set(DAYS)


@pytest.mark.parametrize("day", SIMULATED_DAYS)
def test_a_day_of_the_summary_table_holds_that_days_known_numbers(backfills, simulated_config, day):
    rows = [r for r in backfills[-1]["rows"] if r["day"] == day.isoformat()]
    want = current_per_class(day)
    got = {r["storage_class"]: r for r in rows}
    assert {
        c: (r["objects"], r["bytes"], r["unencrypted_objects"]) for c, r in got.items() if r["objects"]
    } == {c: (v["objects"], v["bytes"], v["unencrypted"]) for c, v in want.items()}
    all_rows = simulated_rows(day).to_pylist()
    assert got["STANDARD"]["delete_markers"] == sum(r["is_delete_marker"] for r in all_rows)
    dt = f"{day.isoformat()}-01-00"
    costs = expected.class_costs(
        [r for r in all_rows if r["storage_class"] != "REDUCED_REDUNDANCY"], simulated_config, dt
    )
    assert got["GLACIER"]["cost_current"] == pytest.approx(costs["GLACIER"]["current"]["usd"], rel=1e-9)
    assert got["GLACIER"]["commitment"] == pytest.approx(costs["GLACIER"]["commitment"], rel=1e-9)
    assert got["REDUCED_REDUNDANCY"]["cost_current"] is None  # no price: unknown, not guessed
    assert {r["dt"] for r in rows} == {dt}


def test_the_day_is_compared_with_the_day_before_from_the_summary_table(backfills):
    found = insights(backfills, DAYS[1])
    assert found["previous"] == {"day": DAYS[0], "dt": f"{DAYS[0]}-01-00"}
    before, after = current_per_class(SIMULATED_DAYS[0]), current_per_class(SIMULATED_DAYS[1])
    changes = {c["storage_class"]: c for c in found["changes"]}
    for storage_class in set(before) | set(after):
        was, now = before.get(storage_class, {}), after.get(storage_class, {})
        assert changes[storage_class]["bytes_change"] == now.get("bytes", 0) - was.get("bytes", 0)
        assert changes[storage_class]["objects_change"] == now.get("objects", 0) - was.get("objects", 0)
    assert [d["day"] for d in found["trend"]] == DAYS
    assert insights(backfills, DAYS[0])["previous"] is None  # the first day summarised


def test_the_planted_anomaly_is_found_with_its_numbers(backfills, simulated_config):
    found = {a["kind"]: a for a in insights(backfills, DAYS[1])["anomalies"]}
    before, after = current_per_class(SIMULATED_DAYS[0]), current_per_class(SIMULATED_DAYS[1])
    was, now = sum(v["bytes"] for v in before.values()), sum(v["bytes"] for v in after.values())
    assert (now - was) / was > simulated_config.reports.anomalies.change_share
    assert (found["bytes_change"]["before"], found["bytes_change"]["after"]) == (was, now)
    assert found["bytes_change"]["storage_class"] == "STANDARD"  # where the bytes came in
    unencrypted = found["unencrypted"]
    assert unencrypted["storage_class"] == "STANDARD"
    assert (unencrypted["before"], unencrypted["after"]) == (
        before["STANDARD"]["unencrypted"],
        after["STANDARD"]["unencrypted"],
    )
    assert "objects_change" not in found  # 120 more objects is not 20 % more
    assert "delete_markers" not in found
    assert "unexpected_class" not in found  # every class is expected in the configuration
    assert insights(backfills, DAYS[0])["anomalies"] == []  # nothing to compare the first day with


def test_a_90_day_trend_reads_only_the_summary_table(
    summary_table, backfills, simulated, simulated_config, s3, athena
):
    """120 days of rows of another inventory in the summary table: the trend of the last day reads only
    the 89 days before it, from that table alone, and not one byte of the other days."""
    probe = dataclasses.replace(simulated_config.inventories[0], name="trend_probe")
    table = history.SummaryTable(simulated_config)
    template = insights(backfills, DAYS[1])["summary_rows"]
    last = date(2026, 11, 20)
    days = [(last - timedelta(days=back)).isoformat() for back in range(119, -1, -1)]
    for n, day in enumerate(days):
        rows = [r | {"dt": f"{day}-01-00", "objects": r["objects"] + n} for r in template]
        table.write(day, probe.name, rows)
    values = inventory_values(simulated_config, probe, f"{days[-1]}-01-00", None)
    assert (values["trend_from"], values["trend_to"]) == (days[-90], days[-2])

    rows, execution = athena.run(render_query("inventory_trend", values))

    window = days[-90:-1]
    assert sorted({r["day"] for r in rows}) == window
    assert len(rows) == len(window) * len(template)
    (read,) = athena.reads(execution["QueryExecutionId"])
    assert read["table"] == summary_table
    assert read["partitions"] == [[probe.name, day] for day in window]  # this inventory's days, no other
    scanned = execution["Statistics"]["DataScannedInBytes"]
    assert read["bytes"] == scanned
    objects = summary_objects(s3, simulated_config, probe.name)
    in_window = sum(len(body) for day, (_, body) in objects.items() if day in window)
    assert 0 < scanned <= in_window < sum(len(body) for _, body in objects.values())


def rows_of(**per_class: dict[str, int | None]) -> list[dict[str, Any]]:
    base = {"objects": 0, "bytes": 0, "noncurrent_objects": 0, "delete_markers": 0, "unencrypted_objects": 0}
    return [{"storage_class": c, **base, **values} for c, values in per_class.items()]


LIMITS = AnomaliesConfig(change_share=0.2, delete_markers_share=0.5, delete_markers_min=100, unencrypted=True)


@pytest.mark.parametrize(
    ("before", "after", "kinds"),
    [
        ({"STANDARD": {"bytes": 1000, "objects": 10}}, {"STANDARD": {"bytes": 1200, "objects": 10}}, set()),
        (
            {"STANDARD": {"bytes": 1000, "objects": 10}},
            {"STANDARD": {"bytes": 1201, "objects": 10}},
            {"bytes_change"},
        ),
        (
            {"STANDARD": {"bytes": 1000, "objects": 10}},
            {"STANDARD": {"bytes": 799, "objects": 10}},
            {"bytes_change"},
        ),
        (
            {"STANDARD": {"bytes": 1000, "objects": 10}},
            {"STANDARD": {"bytes": 1000, "objects": 13}},
            {"objects_change"},
        ),
        ({"STANDARD": {"delete_markers": 200}}, {"STANDARD": {"delete_markers": 299}}, set()),  # under 50 %
        ({"STANDARD": {"delete_markers": 200}}, {"STANDARD": {"delete_markers": 301}}, {"delete_markers"}),
        (
            {"STANDARD": {"delete_markers": 10}},
            {"STANDARD": {"delete_markers": 100}},
            set(),
        ),  # under 100 more
        ({"STANDARD": {"delete_markers": 0}}, {"STANDARD": {"delete_markers": 100}}, {"delete_markers"}),
        ({"STANDARD": {"unencrypted_objects": 3}}, {"STANDARD": {"unencrypted_objects": 3}}, set()),
        ({"STANDARD": {"unencrypted_objects": 3}}, {"STANDARD": {"unencrypted_objects": 4}}, {"unencrypted"}),
        (
            {"STANDARD": {"unencrypted_objects": None}},
            {"STANDARD": {"unencrypted_objects": 4}},
            set(),
        ),  # unknown
        ({"STANDARD": {}}, {"STANDARD": {}, "GLACIER": {"objects": 1}}, {"unexpected_class"}),
        ({"STANDARD": {}, "GLACIER": {"objects": 1}}, {"STANDARD": {}, "GLACIER": {"objects": 1}}, set()),
    ],
)
def test_each_anomaly_rule_fires_past_its_limit_and_not_before(simulated_config, before, after, kinds):
    inventory = dataclasses.replace(simulated_config.inventories[0], expected_classes=("STANDARD",))
    found = anomalies.find(rows_of(**after), rows_of(**before), inventory, LIMITS)
    assert {a["kind"] for a in found} == kinds


def test_on_the_first_day_only_an_unexpected_class_is_an_anomaly(simulated_config):
    inventory = dataclasses.replace(simulated_config.inventories[0], expected_classes=("STANDARD",))
    today = rows_of(STANDARD={"unencrypted_objects": 5, "bytes": 10}, GLACIER_IR={"noncurrent_objects": 2})
    (found,) = anomalies.find(today, None, inventory, LIMITS)
    assert (found["kind"], found["storage_class"], found["after"]) == ("unexpected_class", "GLACIER_IR", 2)
    assert anomalies.find(today, None, dataclasses.replace(inventory, expected_classes=()), LIMITS) == []


@pytest.fixture
def alert_queue(local_aws, simulated_config) -> Any:
    """The alert topic with a fresh SQS queue subscribed: a function that returns what arrived."""
    sns = boto3.client("sns", endpoint_url=local_aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=local_aws, region_name="us-east-1")
    topic = sns.create_topic(Name=simulated_config.alerts.sns_topic_arn.rsplit(":", 1)[1])["TopicArn"]
    with subscribed(sns, sqs, topic, "reports-test-anomalies") as received:
        yield received


def test_a_day_alerts_once_and_a_rerun_of_it_does_not_alert_again(
    backfills, alert_queue, simulated_config, s3, glue, athena
):
    day = DAYS[1]
    plan, _ = summarise(simulated_config, day, "alert__first", s3, glue, athena)
    assert alert_anomalies(plan, "alert__first", simulated_config) == ["sim_daily"]
    (message,) = alert_queue()
    assert message["Subject"] == f"[datalake] s3://media-prod (sim_daily): 2 storage anomalies on {day}"
    text = message["Message"]
    assert text.startswith(
        f"Inventory: sim_daily (s3://media-prod)\nDay: {day} (drop dt={day}-01-00, compared with {DAYS[0]})\n"
    )
    assert "- total bytes " in text
    assert "STANDARD +" in text  # the class the bytes came in
    assert "- unencrypted (NOT-SSE) objects in STANDARD: " in text
    assert text.endswith(f"Report: /reports/day/{day}\n")

    again, _ = summarise(simulated_config, day, "alert__rerun", s3, glue, athena)
    assert alert_anomalies(again, "alert__rerun", simulated_config) == []
    assert alert_queue() == []
    stored = ReportStore(simulated_config).read_summary(day)
    assert stored["run_id"] == "alert__rerun"
    assert stored["alerts"]["inventory_sim_daily"]["run_id"] == "alert__first"
    # a run whose report another run wrote sends nothing either
    assert alert_anomalies(plan, "alert__first", simulated_config) == []


def test_the_page_shows_costs_trend_savings_ages_and_anomalies_with_exact_values(backfills):
    document = backfills[-1]["documents"][DAYS[1]]
    page = render_report(document)
    found = document["sources"]["inventory_sim_daily"]["insights"]
    from datalake.reports.render import dollars, human_bytes

    for section in (
        "What storage costs",
        "Cost over time",
        "Change since the day before",
        "savings",
        "Age of the objects",
    ):
        assert section in page
    assert dollars(found["cost_total"]) in page
    assert 'aria-label="Storage cost per class, USD a month"' in page
    assert 'aria-label="Storage cost per day, USD a month"' in page
    for point in found["trend"]:  # each point of the trend carries its day and exact cost
        assert f"<title>{point['day']}: {dollars(point['cost'])}</title>" in page
    assert 'aria-label="Bytes by age since the last modification and storage class"' in page
    histogram = found["histogram"]
    biggest = max(((c, b) for b in histogram for c in b["bytes"]), key=lambda cb: cb[1]["bytes"][cb[0]])
    assert f"{biggest[0]}, {biggest[1]['label']}: {human_bytes(biggest[1]['bytes'][biggest[0]])}" in page
    for candidate in found["savings"]:
        assert candidate["title"] in page
    assert "2 anomalies against the day before" in page
    assert "<script" not in page
    assert "No price in the table for REDUCED_REDUNDANCY" in page
