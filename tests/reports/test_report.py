"""The report: built from real query results on the stack, rendered and stored in S3 (served: test_web.py)."""

from __future__ import annotations

from typing import Any

import pytest

from datalake.reports.queries import INVENTORY_QUERIES
from datalake.reports.render import NO_DATA, render_report

from .conftest import DAY_1, DAY_2, summarise


@pytest.fixture(scope="module")
def landed(s3, inventory_tables, strava_table, test_config, summary_table) -> None:
    """The drops' hive folders where the plan looks for them, the reports bucket and the summary table."""
    inv = test_config.inventories[0]
    s3.create_bucket(Bucket=inv.destination_bucket)
    for dt in (DAY_1, DAY_2):
        s3.put_object(
            Bucket=inv.destination_bucket, Key=f"{inv.base_prefix}/hive/dt={dt}/symlink.txt", Body=b""
        )
    s3.create_bucket(Bucket=test_config.reports.bucket)


def report_for(day: str, test_config, s3, athena, glue) -> tuple[dict[str, Any], str]:
    _, document = summarise(test_config, day, f"report__{day}", s3, glue, athena)
    return document, render_report(document)


def test_a_normal_day_shows_charts_tables_and_the_change_since_the_previous_drop(
    landed, test_config, s3, athena, glue
):
    document, html = report_for("2026-11-20", test_config, s3, athena, glue)
    inventory = document["sources"]["inventory_media_daily"]
    assert inventory["values"]["dt"] == DAY_2
    assert inventory["values"]["previous_dt"] == DAY_1
    assert "Data lake report for 2026-11-20" in html
    assert f"Inventory drop dt={DAY_2};" in html
    assert "2021-05-04 16:56:41 UTC" in html
    assert 'aria-label="Bytes per storage class"' in html
    assert 'aria-label="Weekly distance by sport type"' in html
    assert NO_DATA not in html
    assert "<script" not in html
    assert "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # nothing fetched from elsewhere
    assert s3.get_object(Bucket=test_config.reports.bucket, Key="reports/2026-11-20/report.html")[
        "Body"
    ].read()


def test_the_first_day_has_no_previous_drop_and_says_so(landed, test_config, s3, athena, glue):
    document, html = report_for("2026-11-19", test_config, s3, athena, glue)
    assert document["sources"]["inventory_media_daily"]["values"]["previous_dt"] == ""
    assert document["sources"]["inventory_media_daily"]["insights"]["previous"] is None
    assert "the first day in the daily storage summary: there is no earlier day to compare with" in html
    assert NO_DATA not in html


def test_a_day_without_data_renders_no_data_instead_of_failing(landed, test_config, s3, athena, glue):
    document, html = report_for("2024-06-01", test_config, s3, athena, glue)
    assert document["sources"]["inventory_media_daily"]["values"] is None
    assert html.count(NO_DATA) == 2  # storage and training


def test_a_drop_with_no_objects_renders_no_data():
    document = {
        "day": "2026-11-21",
        "sources": {
            "inventory_x": {
                "kind": "inventory",
                "title": "Storage",
                "values": {"dt": "2026-11-21-01-00", "previous_dt": "2026-11-20-01-00"},
                "results": {q.name: [] for q in INVENTORY_QUERIES},
            }
        },
    }
    html = render_report(document)
    assert NO_DATA in html
    assert "lists no objects" in html


def test_the_growth_chart_and_the_change_come_from_the_summary_table_of_earlier_days(
    landed, test_config, s3, athena, glue
):
    report_for("2026-11-19", test_config, s3, athena, glue)
    document, html = report_for("2026-11-20", test_config, s3, athena, glue)
    insights = document["sources"]["inventory_media_daily"]["insights"]
    assert [p["day"] for p in insights["trend"]] == ["2026-11-19", "2026-11-20"]
    assert insights["previous"] == {"day": "2026-11-19", "dt": DAY_1}
    assert f"compared with 2026-11-19 (drop dt={DAY_1}) in the daily storage summary" in html
    assert 'aria-label="Bytes stored per day"' in html


def test_names_from_the_data_show_as_text_never_as_markup():
    evil = '<script>alert("key")</script><img src=x onerror=alert(1)>'
    rows = [{"prefix": evil, "objects": 1, "bytes": 5}]
    classes = [
        {
            "storage_class": evil,
            "objects": 1,
            "bytes": 5,
            "oldest_modified": None,
            "oldest_key": f"a/{evil}",
            "newest_modified": None,
            "newest_key": evil,
            "folder_objects": 0,
        }
    ]
    document = {
        "day": "2026-11-21",
        "sources": {
            "inventory_x": {
                "kind": "inventory",
                "title": evil,
                "values": {"dt": "2026-11-21-01-00", "previous_dt": ""},
                "results": {"inventory_storage_classes": classes, "inventory_prefixes": rows},
            },
            "strava": {"kind": "strava", "title": "Training", "values": None, "reason": evil},
        },
    }
    html = render_report(document).replace("<wbr>", "")  # the wrap points the page puts in keys
    assert "<script" not in html
    assert "<img" not in html
    shown = html.count("&lt;script&gt;alert(&#34;key&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")
    assert shown == 8  # title, two table cells, two bar tooltips, two keys, the reason
