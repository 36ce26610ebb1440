"""The report page as a browser lays it out (Debian's chromium, headless): tables and chart labels stay
inside their cards."""

from __future__ import annotations

from typing import Any

from datalake.reports.render import render_report

LONG_PREFIX = "Customer-Uploads-Archive-2019-to-2023-eu-west-1/"
CLASSES = ("GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING", "STANDARD", "STANDARD_IA", "REDUCED_REDUNDANCY")

# Where each table's box ends against the content box of its card, and how wide the page scrolls.
MEASURE = """() => ({
    page: document.documentElement.scrollWidth,
    tables: [...document.querySelectorAll('table')].map(t => {
        const card = t.closest('section');
        const style = getComputedStyle(card);
        const inner = card.getBoundingClientRect().right - parseFloat(style.paddingRight)
            - parseFloat(style.borderRightWidth);
        return {table: t.getBoundingClientRect().right, box: t.parentElement.getBoundingClientRect().right,
                inner: inner};
    }),
    labels: [...document.querySelectorAll('svg text')].map(t => ({
        text: t.textContent, left: t.getBoundingClientRect().left, right: t.getBoundingClientRect().right,
        chart_left: t.closest('svg').getBoundingClientRect().left,
        chart: t.closest('svg').getBoundingClientRect().right,
    })),
})"""


def _report() -> str:
    """A storage section whose oldest/newest keys are long, as real buckets name them."""
    classes = [
        {
            "storage_class": storage_class,
            "objects": 1_000_000 * (i + 1),
            "bytes": 177_037_397_837_000 // (i + 1),
            "oldest_modified": "2019-05-10 01:17:50.000 UTC",
            "oldest_key": f"thumbnails/2019/05/11/café_menu_{'b' * 12}{i}.webp",
            "newest_modified": "2026-11-19 21:32:39.000 UTC",
            "newest_key": f"logs/2026/11/20/Q3-summary_c1109865{i}_{'0123456789abcdef' * 4}.log.gz",
            "folder_objects": 29 * i,
        }
        for i, storage_class in enumerate(CLASSES)
    ]
    return render_report(
        {
            "day": "2026-11-20",
            "generated_at": "2026-11-20 06:00 UTC",
            "sources": {
                "inventory_media_daily": {
                    "kind": "inventory",
                    "title": "Storage: s3://media-prod (media_daily)",
                    "values": {"dt": "2026-11-20-01-00", "previous_dt": ""},
                    "results": {
                        "inventory_storage_classes": classes,
                        "inventory_versions": [{"noncurrent_versions": 1, "noncurrent_bytes": 1}],
                        "inventory_encryption": [],
                        "inventory_prefixes": [
                            {"prefix": "photos/", "objects": 123_456_789, "bytes": 987_654_321_000_000},
                            {"prefix": LONG_PREFIX, "objects": 42, "bytes": 1_000_000_000},
                        ],
                    },
                }
            },
        }
    )


def _layout(browser: Any, width: int) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": width, "height": 800})
    try:
        page.set_content(_report())
        return page.evaluate(MEASURE)
    finally:
        page.close()


def test_on_a_laptop_screen_the_storage_class_table_fits_its_card(chromium):
    layout = _layout(chromium, 1280)
    assert layout["tables"]
    for table in layout["tables"]:
        assert table["table"] <= table["inner"] + 0.5, table  # no sideways scrolling needed
    assert layout["page"] <= 1280


def test_the_text_after_each_bar_stays_inside_the_chart(chromium):
    labels = _layout(chromium, 1280)["labels"]
    assert any("objects" in label["text"] for label in labels)
    for label in labels:
        assert label["right"] <= label["chart"] + 0.5, label


def test_on_a_narrow_screen_a_wide_table_scrolls_inside_its_card(chromium):
    layout = _layout(chromium, 560)
    for table in layout["tables"]:
        assert table["box"] <= table["inner"] + 0.5, table  # the scrolling box stays in the card
    assert layout["page"] <= 560  # the page itself does not scroll sideways


def test_a_long_prefix_name_left_of_its_bar_stays_inside_the_chart(chromium):
    labels = _layout(chromium, 1280)["labels"]
    cut = [label for label in labels if label["text"].startswith(LONG_PREFIX[:10])]
    assert len(cut) == 1, cut
    assert cut[0]["text"].endswith("…"), cut  # the whole name is in the table under the chart
    for label in labels:
        assert label["left"] >= label["chart_left"] - 0.5, label


def test_a_cut_bar_name_keeps_the_whole_name_as_its_tooltip():
    html = _report()
    assert f"<title>{LONG_PREFIX}</title>" in html
    assert "<title>photos/</title>" not in html  # a name that fits is shown as it is
