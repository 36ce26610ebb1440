"""The daily report: the report document (``datalake.reports.document``) in, one self-contained HTML
page out.

The page is the Jinja template ``templates/report.html.j2``, shipped in this package (its sections,
tables, KPIs and charts are macros in the files next to it). It carries its own CSS and draws its charts
as inline SVG (horizontal bars, stacked columns, lines over days): no script, no web font, no CDN, so it
opens the same from S3, from the Airflow UI, from a mail attachment or offline, and a test can read
every number in it. Every mark of a chart has a tooltip (an SVG ``<title>``) with its exact value, and
a table next to the chart holds them all. A charting library would add a dependency and a script for
three simple chart shapes.

Python keeps what a template should not do: the number formats (the template's filters) and the
geometry of the charts (bar widths, column heights, line points), which the template turns into SVG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import jinja2

NO_DATA = "No data for this day"

_PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777", "#475569")
_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)? *(?:UTC|Z|[+-]00:?00)?"
)
_CHAR_WIDTH = 7  # px: 12px system-ui text averages under 7px a character


# --- number formats (the template's filters) ---------------------------------------------------------


def human_bytes(value: float | int | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    sign = "-" if size < 0 else ""
    size = abs(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{sign}{size:.0f} {unit}" if unit == "B" else f"{sign}{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def signed(value: float | int | None, as_bytes: bool = False, digits: int = 0) -> str:
    """A change: ``+1,234``, ``-2.0 KiB``, ``0`` (the template colours it by its sign)."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    text = human_bytes(value) if as_bytes else number(value, digits)
    return f"+{text}" if value > 0 else text


def dollars(value: float | int | None) -> str:
    """USD for people: ``$1,234.56``, ``<$0.01`` for a positive amount under a cent, ``–`` unknown."""
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if 0 < amount < 0.005:
        return f"{sign}<$0.01"
    return f"{sign}${amount:,.2f}"


def signed_dollars(value: float | int | None) -> str:
    """A change in USD: ``+$1.23``, ``-$0.50``, ``$0.00``."""
    if value is None:
        return "–"
    text = dollars(value)
    return f"+{text}" if value > 0 else text


def percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


def utc_timestamp(value: Any) -> str:
    """``2021-05-04 16:56:41.000 UTC`` (as Athena prints it) -> ``2021-05-04 16:56:41 UTC``."""
    if value is None or value == "":
        return "–"
    match = _TIMESTAMP.fullmatch(str(value).strip())
    return f"{match.group(1)} {match.group(2)} UTC" if match else str(value)


def iso_week(value: Any) -> str:
    year, week, _ = date.fromisoformat(str(value)[:10]).isocalendar()
    return f"{year}-W{week:02d}"


def _color(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _px(value: float) -> float:
    return round(value, 1)


# --- chart geometry (in the SVG's own units; the template draws it) -----------------------------------


@dataclass(frozen=True)
class Bar:
    name: str  # whole: the tooltip when ``shown`` is cut
    shown: str  # the name as it fits left of the bar
    color: str
    y: float  # top edge
    baseline: float  # of the name and of the text after the bar
    width: float
    text: str  # shown after the bar
    text_x: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    name_x: int  # the names end here (right-aligned)
    left: int  # the bars start here
    bar_height: int
    bars: tuple[Bar, ...]


def bar_chart(items: list[tuple[str, float, str]]) -> BarChart | None:
    """Horizontal bars of ``(name, value, text shown after the bar)``; None when there are none."""
    if not items:
        return None
    width, left, thickness, gap = 640, 170, 20, 8
    right = max(110, 12 + _CHAR_WIDTH * max(len(text) for _, _, text in items))  # room for the text
    top = max(value for _, value, _ in items) or 1
    bars = []
    for i, (name, value, text) in enumerate(items):
        y = gap + i * (thickness + gap)
        w = max(1.0, (width - left - right) * max(value, 0) / top)
        bar = Bar(
            name=name,
            shown=_fitted(name, room=left - 12),
            color=_color(i),
            y=y,
            baseline=y + 14,
            width=_px(w),
            text=text,
            text_x=_px(left + w + 6),
        )
        bars.append(bar)
    return BarChart(
        width,
        height=len(items) * (thickness + gap) + gap,
        name_x=left - 8,
        left=left,
        bar_height=thickness,
        bars=tuple(bars),
    )


def _fitted(name: str, *, room: float) -> str:
    """``name``, cut with an ellipsis when it is wider than ``room`` px (the table under the chart and
    the bar's tooltip have it whole)."""
    fits = int(room // _CHAR_WIDTH)
    return name if len(name) <= fits else name[: fits - 1] + "…"


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str  # the tooltip: what it is, with its exact value


@dataclass(frozen=True)
class Column:
    category: str
    label: str  # written under the column
    center: float  # of the column, where its label goes
    segments: tuple[Segment, ...]  # bottom up, one per series with a value


@dataclass(frozen=True)
class LegendEntry:
    name: str
    x: float  # of its colour box
    text_x: float
    color: str


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    left: int  # the x axis starts here
    right: int  # the x axis ends here
    axis_y: int
    value_x: int  # the values of the y axis end here (right-aligned)
    top: float  # the value at the top of the plot
    top_y: int  # where that value is written
    category_y: int  # where the categories are written, under the axis
    legend_y: int  # top of the legend's colour boxes
    legend_text_y: int
    columns: tuple[Column, ...]
    legend: tuple[LegendEntry, ...]


def column_chart(
    categories: list[str],
    series: dict[str, list[float]],
    titles: dict[str, list[str]] | None = None,
    labels: list[str] | None = None,
) -> ColumnChart | None:
    """Columns per category, stacked by series, each segment with its tooltip (``titles``, by series
    and category; default: the series, the category and the value), each column with its label under
    the axis (default: the category); None when there is nothing to draw."""
    if not categories or not series:
        return None
    width, height, left, bottom, top_pad = 640, 260, 48, 40, 12
    top = max(sum(values[i] for values in series.values()) for i in range(len(categories))) or 1
    step = (width - left - 10) / len(categories)
    col = step * 0.7
    columns = []
    for i, category in enumerate(categories):
        x = left + i * step + (step - col) / 2
        y = float(height - bottom)
        segments = []
        for j, (name, values) in enumerate(series.items()):
            h = (height - bottom - top_pad) * values[i] / top
            if h > 0:
                y -= h
                title = titles[name][i] if titles else f"{name}, {category}: {number(values[i], 1)}"
                segments.append(Segment(_px(x), _px(y), _px(col), _px(h), _color(j), title))
        label = labels[i] if labels else category
        columns.append(Column(category, label, _px(x + col / 2), tuple(segments)))
    legend, x = [], left
    for j, name in enumerate(series):
        legend.append(LegendEntry(name, x, text_x=x + 14, color=_color(j)))
        x += 24 + _CHAR_WIDTH * len(name)
    return ColumnChart(
        width,
        height=height + 24,  # the legend goes under the plot
        left=left,
        right=width - 10,
        axis_y=height - bottom,
        value_x=left - 6,
        top=top,
        top_y=top_pad + 4,
        category_y=height - bottom + 14,
        legend_y=height + 4,
        legend_text_y=height + 13,
        columns=tuple(columns),
        legend=tuple(legend),
    )


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int  # the line starts here
    right: int  # the line ends here
    value_x: int  # the highest and lowest values are written left of here (right-aligned)
    top_y: int  # where the highest value is written
    bottom_y: int  # where the lowest value is written
    day_y: int  # where the first and last day are written
    points: tuple[tuple[float, float], ...]
    tips: tuple[str, ...]  # each point's tooltip: its day and exact value
    high: float
    low: float
    first_day: str
    last_day: str
    color: str
    unit: str  # "bytes" or "usd": how its values are written

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)

    @property
    def marks(self) -> tuple[tuple[float, float, str], ...]:
        """Each point with its tooltip."""
        return tuple((x, y, tip) for (x, y), tip in zip(self.points, self.tips, strict=True))


def chart_value(value: float, unit: str) -> str:
    """A value of a chart, written for people in its unit."""
    return dollars(value) if unit == "usd" else human_bytes(value)


def line_chart(points: list[tuple[str, float]], unit: str = "bytes") -> LineChart | None:
    """A line over days of values in ``unit`` ("bytes" or "usd"); None with fewer than two points."""
    if len(points) < 2:
        return None
    width, height, left, bottom, top_pad = 640, 200, 80, 30, 12
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - left - 20) / (len(points) - 1)
    coords = tuple(
        (_px(left + i * step), _px(top_pad + (height - bottom - top_pad) * (1 - (v - low) / span)))
        for i, v in enumerate(values)
    )
    return LineChart(
        width,
        height,
        left=left,
        right=width - 20,
        value_x=left - 6,
        top_y=top_pad + 4,
        bottom_y=height - bottom,
        day_y=height - 8,
        points=coords,
        tips=tuple(f"{day}: {chart_value(value, unit)}" for day, value in points),
        high=high,
        low=low,
        first_day=points[0][0],
        last_day=points[-1][0],
        color=_color(0),
        unit=unit,
    )


# --- what the charts plot ------------------------------------------------------------------------------


def storage_class_bars(classes: list[dict[str, Any]]) -> BarChart | None:
    return bar_chart(
        [
            (r["storage_class"], r["bytes"], f"{human_bytes(r['bytes'])} · {number(r['objects'])} objects")
            for r in classes
        ]
    )


def prefix_bars(prefixes: list[dict[str, Any]], shown: int = 10) -> BarChart | None:
    return bar_chart([(r["prefix"], r["bytes"], human_bytes(r["bytes"])) for r in prefixes[:shown]])


def weekly_columns(weekly: list[dict[str, Any]]) -> ColumnChart | None:
    """Distance per ISO week, stacked by sport type."""
    weeks = sorted({str(r["week_start"])[:10] for r in weekly})
    series = {sport: [0.0] * len(weeks) for sport in sorted({r["sport_type"] for r in weekly})}
    for r in weekly:
        series[r["sport_type"]][weeks.index(str(r["week_start"])[:10])] += r["distance_km"] or 0.0
    titles = {
        sport: [f"{sport}, {iso_week(w)}: {number(values[i], 1)} km" for i, w in enumerate(weeks)]
        for sport, values in series.items()
    }
    names = [iso_week(w) for w in weeks]
    return column_chart(names, series, titles, labels=[name[-3:] for name in names])  # the week: W47


def growth_line(trend: list[dict[str, Any]]) -> LineChart | None:
    """Bytes stored per day (current versions)."""
    return line_chart([(d["day"], d["bytes"]) for d in trend if d.get("bytes") is not None])


def cost_line(trend: list[dict[str, Any]]) -> LineChart | None:
    """Monthly storage cost per day."""
    return line_chart([(d["day"], d["cost"]) for d in trend if d.get("cost") is not None], unit="usd")


def cost_bars(costs: list[dict[str, Any]]) -> BarChart | None:
    """USD a month per storage class (a class the table cannot price: no bar, said in its text)."""
    return bar_chart(
        [
            (
                c["storage_class"],
                c["total_usd"] or 0.0,
                f"{dollars(c['total_usd'])} a month" if c["total_usd"] is not None else "no price",
            )
            for c in costs
        ]
    )


def _bytes_and_objects(bucket: dict[str, Any], storage_class: str) -> str:
    size, objects = bucket["bytes"].get(storage_class, 0), bucket["objects"].get(storage_class, 0)
    return f"{human_bytes(size)} in {number(objects)} objects"


def age_columns(histogram: list[dict[str, Any]]) -> ColumnChart | None:
    """GiB per age bucket, stacked by storage class."""
    classes = sorted({c for bucket in histogram for c in bucket["bytes"]})
    if not classes:
        return None
    series = {c: [bucket["bytes"].get(c, 0) / 2**30 for bucket in histogram] for c in classes}
    titles = {c: [f"{c}, {b['label']}: {_bytes_and_objects(b, c)}" for b in histogram] for c in classes}
    return column_chart(
        [b["label"] for b in histogram], series, titles, labels=[b["short"] for b in histogram]
    )


# --- the page --------------------------------------------------------------------------------------------

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("datalake.reports"),  # templates/ of the installed package
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    finalize=lambda value: "" if value is None else value,  # None shows as nothing
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(
    human_bytes=human_bytes,
    number=number,
    signed=signed,
    dollars=dollars,
    signed_dollars=signed_dollars,
    percent=percent,
    chart_value=chart_value,
    utc_timestamp=utc_timestamp,
    iso_week=iso_week,
)
_ENV.globals.update(
    NO_DATA=NO_DATA,
    storage_class_bars=storage_class_bars,
    prefix_bars=prefix_bars,
    weekly_columns=weekly_columns,
    growth_line=growth_line,
    cost_line=cost_line,
    cost_bars=cost_bars,
    age_columns=age_columns,
)


def report_template() -> jinja2.Template:
    return _ENV.get_template("report.html.j2")


def render_report(report: dict[str, Any]) -> str:
    """The whole page for one day."""
    return report_template().render(report=report)


def render_report_list(days: list[str]) -> str:
    """The Reports page of the UI: a link to each day that has a report, newest first."""
    return _ENV.get_template("report_list.html.j2").render(days=days)
