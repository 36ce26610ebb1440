"""The daily report: query results in, one self-contained HTML page out.

The page carries its own CSS and its charts as inline SVG drawn here by hand (horizontal bars,
stacked weekly columns, a growth line): no script, no web font, no CDN, so it opens the same from S3,
from the Airflow UI, from a mail attachment or offline, and a test can read every number in it.
A charting library would add a dependency and a script for three simple chart shapes.

Input is the report document (``datalake.reports.document``).
"""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

NO_DATA = "No data for this day"

_PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777", "#475569")
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(?:UTC|Z|[+-]00:?00)?$")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;
background:#f8fafc}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.25rem;margin:32px 0 8px;border-bottom:2px solid #e2e8f0}
h3{font-size:1rem;margin:20px 0 6px}.meta{color:#64748b;font-size:.9rem}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px 20px 20px;margin:20px 0}
.table{overflow-x:auto;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}
.key{overflow-wrap:anywhere}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}
.kpi{background:#f1f5f9;border-radius:6px;padding:8px 14px;min-width:120px}
.kpi b{display:block;font-size:1.2rem}.kpi span{color:#64748b;font-size:.8rem}
.nodata{background:#fef9c3;border:1px solid #fde047;border-radius:6px;padding:12px 16px;font-weight:600}
.note{color:#64748b;font-size:.85rem}.up{color:#15803d}.down{color:#b91c1c}
svg{max-width:100%;height:auto}svg text{font-family:inherit;font-size:12px;fill:#334155}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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


def signed(value: float | int | None, fmt: Any = number) -> str:
    if value is None:
        return "–"
    text = fmt(value)
    if value > 0:
        return f'<span class="up">+{e(text)}</span>'
    if value < 0:
        return f'<span class="down">{e(text)}</span>'
    return "0"


def utc_timestamp(value: Any) -> str:
    """``2021-05-04 16:56:41.000 UTC`` (as Athena prints it) -> ``2021-05-04 16:56:41 UTC``."""
    if value is None or value == "":
        return "–"
    match = _TIMESTAMP.match(str(value).strip())
    return f"{match.group(1)} {match.group(2)} UTC" if match else str(value)


def iso_week(value: Any) -> str:
    year, week, _ = date.fromisoformat(str(value)[:10]).isocalendar()
    return f"{year}-W{week:02d}"


# --- charts -----------------------------------------------------------------------------------------


def _svg_open(label: str, width: float, height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(label)}" '
        f'viewBox="0 0 {width} {height}">'
    )


def _rect(x: float, y: float, w: float, h: float, color_index: int, extra: str = "") -> str:
    color = _PALETTE[color_index % len(_PALETTE)]
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}"{extra}/>'


def svg_bars(items: list[tuple[str, float, str]], *, label: str) -> str:
    """Horizontal bars: ``(name, value, text shown after the bar)``."""
    if not items:
        return ""
    width, left, bar, gap = 640, 170, 20, 8
    right = max(110, 12 + 7 * max(len(text) for _, _, text in items))  # room for the longest text
    top = max((v for _, v, _ in items), default=0) or 1
    height = len(items) * (bar + gap) + gap
    parts = [_svg_open(label, width, height)]
    for i, (name, value, text) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(1.0, (width - left - right) * max(value, 0) / top)
        parts.append(_bar_name(name, x=left - 8, y=y + 14, room=left - 12))
        parts.append(_rect(left, y, w, bar, i, ' rx="3"'))
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}">{e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bar_name(name: str, *, x: float, y: float, room: float) -> str:
    """A bar's name, right-aligned at ``x``; a name wider than ``room`` px is cut with an ellipsis and
    shown whole as the tooltip (the table under the chart has it whole too)."""
    fits = int(room // 7)  # 12px system-ui text averages under 7px a character
    shown = name if len(name) <= fits else name[: fits - 1] + "…"
    tip = f"<title>{e(name)}</title>" if shown != name else ""
    return f'<g>{tip}<text x="{x}" y="{y}" text-anchor="end">{e(shown)}</text></g>'


def svg_stacked_columns(
    categories: list[str], series: dict[str, list[float]], *, label: str, unit: str
) -> str:
    """Columns per category, stacked by series (weekly distance by sport type)."""
    if not categories or not series:
        return ""
    width, height, left, bottom, top_pad = 640, 260, 48, 40, 12
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = max(totals) or 1
    plot_h = height - bottom - top_pad
    step = (width - left - 10) / len(categories)
    col = step * 0.7
    parts = [_svg_open(label, width, height + 24)]
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#94a3b8"/>'
    )
    parts.append(f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{e(number(top))}</text>')
    parts.append(f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0 {e(unit)}</text>')
    for i, category in enumerate(categories):
        x = left + i * step + (step - col) / 2
        y = float(height - bottom)
        for j, values in enumerate(series.values()):
            h = plot_h * values[i] / top
            if h <= 0:
                continue
            y -= h
            parts.append(_rect(x, y, col, h, j))
        parts.append(
            f'<text x="{x + col / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
            f"{e(category[-3:])}</text>"
        )
    lx = left
    for j, name in enumerate(series):
        parts.append(
            f'<rect x="{lx}" y="{height + 4}" width="10" height="10" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{height + 13}">{e(name)}</text>')
        lx += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def svg_line(points: list[tuple[str, float]], *, label: str, fmt: Any = human_bytes) -> str:
    """A line over days (storage growth)."""
    if len(points) < 2:
        return ""
    width, height, left, bottom, top_pad = 640, 200, 80, 30, 12
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - left - 20) / (len(points) - 1)
    coords = [
        (left + i * step, top_pad + (height - bottom - top_pad) * (1 - (v - low) / span))
        for i, (_, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [_svg_open(label, width, height)]
    parts.append(f'<polyline points="{path}" fill="none" stroke="{_PALETTE[0]}" stroke-width="2"/>')
    parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_PALETTE[0]}"/>' for x, y in coords)
    parts.append(f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{e(fmt(high))}</text>')
    parts.append(f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">{e(fmt(low))}</text>')
    parts.append(f'<text x="{left}" y="{height - 8}">{e(points[0][0])}</text>')
    parts.append(f'<text x="{width - 20}" y="{height - 8}" text-anchor="end">{e(points[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- tables and sections -------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """A table whose cells are already HTML (escape with :func:`e` before).

    A table wider than its card (many columns on a narrow screen) scrolls sideways inside the card
    instead of spilling out of it; object keys (``class="key"``) wrap, so on a laptop it need not.
    """
    numeric = numeric or set()
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def kpis(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{e(v)}</b><span>{e(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def no_data(reason: str | None = None) -> str:
    extra = f'<div class="note">{e(reason)}</div>' if reason else ""
    return f'<div class="nodata">{NO_DATA}</div>{extra}'


def _when_and_key(when: Any, key: Any) -> str:
    key_html = e(key).replace("/", "/<wbr>")  # a long key wraps after a '/' first
    return f'{e(utc_timestamp(when))}<br><span class="note key">{key_html}</span>'


def _inventory_section(source: dict[str, Any], history: list[dict[str, Any]]) -> str:
    values = source.get("values")
    results = source.get("results") or {}
    out = [f"<h2>{e(source.get('title'))}</h2>"]
    if not values:
        return "".join([*out, no_data(source.get("reason"))])
    previous = values.get("previous_dt")
    out.append(
        f'<p class="meta">Inventory drop dt={e(values["dt"])}; '
        + (
            f"compared with dt={e(previous)}."
            if previous
            else "first drop: there is no previous drop to compare with."
        )
        + "</p>"
    )
    classes = results.get("inventory_storage_classes") or []
    if not classes:
        return "".join([*out, no_data(f"the drop dt={values['dt']} lists no objects")])
    versions = (results.get("inventory_versions") or [{}])[0]
    total_objects = sum(r["objects"] for r in classes)
    total_bytes = sum(r["bytes"] for r in classes)
    out.append(
        kpis(
            [
                ("objects (current versions)", number(total_objects)),
                ("stored (current versions)", human_bytes(total_bytes)),
                (
                    "non-current versions",
                    f"{number(versions.get('noncurrent_versions'))} · "
                    f"{human_bytes(versions.get('noncurrent_bytes'))}",
                ),
                ("delete markers", number(versions.get("delete_markers"))),
                ("zero-byte folder objects", number(sum(r["folder_objects"] for r in classes))),
            ]
        )
    )
    out.append("<h3>Storage classes</h3>")
    out.append(
        svg_bars(
            [
                (
                    r["storage_class"],
                    r["bytes"],
                    f"{human_bytes(r['bytes'])} · {number(r['objects'])} objects",
                )
                for r in classes
            ],
            label="Bytes per storage class",
        )
    )
    out.append(
        table(
            ["Storage class", "Objects", "Bytes", "Size", "Oldest (UTC)", "Newest (UTC)", "Folder objects"],
            [
                [
                    e(r["storage_class"]),
                    number(r["objects"]),
                    number(r["bytes"]),
                    e(human_bytes(r["bytes"])),
                    _when_and_key(r["oldest_modified"], r.get("oldest_key")),
                    _when_and_key(r["newest_modified"], r.get("newest_key")),
                    number(r["folder_objects"]),
                ]
                for r in classes
            ],
            numeric={1, 2, 3, 6},
        )
    )
    out.append("<h3>Change since the previous drop</h3>")
    changes = results.get("inventory_day_over_day") or []
    if not previous:
        out.append('<p class="note">First drop: no previous drop to compare with.</p>')
    elif changes:
        out.append(
            table(
                ["Storage class", "Objects", "Change", "Bytes", "Change"],
                [
                    [
                        e(r["storage_class"]),
                        number(r["objects"]),
                        signed(r["objects_change"]),
                        e(human_bytes(r["bytes"])),
                        signed(r["bytes_change"], human_bytes),
                    ]
                    for r in changes
                ],
                numeric={1, 2, 3, 4},
            )
        )
    points = [(h["day"], h["bytes"]) for h in history if h.get("bytes") is not None]
    out.append("<h3>Growth over time</h3>")
    out.append(
        svg_line(points, label="Bytes stored per day")
        or '<p class="note">Growth shows once there are two days of reports.</p>'
    )
    out.append("<h3>Encryption</h3>")
    encryption = results.get("inventory_encryption") or []
    out.append(
        table(
            ["Encryption status", "Objects", "Bytes"],
            [
                [e(r["encryption_status"]), number(r["objects"]), e(human_bytes(r["bytes"]))]
                for r in encryption
            ],
            numeric={1, 2},
        )
    )
    out.append("<h3>Largest top-level prefixes</h3>")
    prefixes = results.get("inventory_prefixes") or []
    out.append(
        svg_bars(
            [(r["prefix"], r["bytes"], human_bytes(r["bytes"])) for r in prefixes[:10]],
            label="Bytes per top-level prefix",
        )
    )
    out.append(
        table(
            ["Prefix", "Objects", "Bytes"],
            [[e(r["prefix"]), number(r["objects"]), e(human_bytes(r["bytes"]))] for r in prefixes],
            numeric={1, 2},
        )
    )
    return "".join(out)


def _strava_section(source: dict[str, Any]) -> str:
    values = source.get("values")
    results = source.get("results") or {}
    out = [f"<h2>{e(source.get('title'))}</h2>"]
    if not values:
        return "".join([*out, no_data(source.get("reason"))])
    weekly = results.get("strava_weekly") or []
    ytd = results.get("strava_year_to_date") or []
    longest = results.get("strava_longest") or []
    if not (weekly or ytd or longest):
        return "".join(
            [*out, no_data(f"no activities between {values['last_year_start']} and {values['day']}")]
        )
    out.append("<h3>Weekly training volume (distance, km)</h3>")
    if weekly:
        weeks = sorted({str(r["week_start"])[:10] for r in weekly})
        sports = sorted({r["sport_type"] for r in weekly})
        series = {s: [0.0] * len(weeks) for s in sports}
        for r in weekly:
            series[r["sport_type"]][weeks.index(str(r["week_start"])[:10])] += r["distance_km"] or 0.0
        out.append(
            svg_stacked_columns(
                [iso_week(w) for w in weeks], series, label="Weekly distance by sport type", unit="km"
            )
        )
        out.append(
            table(
                ["Week", "Sport", "Activities", "Distance (km)", "Moving time (h)", "Elevation (m)"],
                [
                    [
                        e(iso_week(r["week_start"])),
                        e(r["sport_type"]),
                        number(r["activities"]),
                        number(r["distance_km"], 1),
                        number(r["moving_hours"], 1),
                        number(r["elevation_m"]),
                    ]
                    for r in weekly
                ],
                numeric={2, 3, 4, 5},
            )
        )
    else:
        out.append(f'<p class="note">No activities since {e(values["weeks_from"])}.</p>')
    out.append(
        f"<h3>Year to date ({e(values['year_start'])} – {e(values['day'])}) against last year to date</h3>"
    )
    by_sport: dict[str, dict[str, dict[str, Any]]] = {}
    for r in ytd:
        by_sport.setdefault(r["sport_type"], {})[r["period"]] = r
    rows = []
    for sport, periods in sorted(by_sport.items()):
        now, before = periods.get("this_year", {}), periods.get("last_year", {})
        rows.append(
            [
                e(sport),
                number(now.get("activities", 0)),
                number(now.get("distance_km", 0.0), 1),
                number(before.get("distance_km", 0.0), 1),
                signed(
                    (now.get("distance_km") or 0.0) - (before.get("distance_km") or 0.0),
                    lambda v: number(v, 1),
                ),
                number(now.get("moving_hours", 0.0), 1),
                number(before.get("moving_hours", 0.0), 1),
                number(now.get("elevation_m", 0.0)),
                number(before.get("elevation_m", 0.0)),
            ]
        )
    out.append(
        table(
            [
                "Sport",
                "Activities",
                "Distance (km)",
                "Last year",
                "Change",
                "Moving (h)",
                "Last year",
                "Elevation (m)",
                "Last year",
            ],
            rows,
            numeric=set(range(1, 9)),
        )
    )
    out.append("<h3>Longest activities of the last twelve months</h3>")
    out.append(
        table(
            ["Date (UTC)", "Name", "Sport", "Distance (km)", "Moving time (h)", "Elevation (m)"],
            [
                [
                    e(utc_timestamp(r["start_date"])),
                    e(r["name"]),
                    e(r["sport_type"]),
                    number(r["distance_km"], 1),
                    number(r["moving_hours"], 1),
                    number(r["elevation_m"]),
                ]
                for r in longest
            ],
            numeric={3, 4, 5},
        )
    )
    return "".join(out)


def render_report(report: dict[str, Any]) -> str:
    """The whole page for one day."""
    day = report["day"]
    history = report.get("history") or {}
    sections = []
    for name, source in (report.get("sources") or {}).items():
        if source.get("kind") == "inventory":
            body = _inventory_section(source, history.get(name) or [])
        else:
            body = _strava_section(source)
        sections.append(f'<section id="{e(name)}">{body}</section>')
    if not sections:
        sections.append(f"<section>{no_data('nothing is configured to summarise')}</section>")
    return (
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Data lake report {e(day)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Data lake report for {e(day)}</h1>"
        f'<p class="meta">Generated {e(report.get("generated_at", ""))} '
        "from the Athena summaries of that day.</p>" + "".join(sections) + "</main></body></html>"
    )
