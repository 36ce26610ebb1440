"""Partition projection: the partitions a table's ``projection.*`` properties enumerate, without Glue
(types ``date``, ``integer``, ``enum``, and ``injected``, whose values the query's equalities give)."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from devstack.athena.catalog import Table, partition_path
from devstack.athena.errors import QueryFailed

_JAVA_DATE = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_UNITS = {
    "YEARS": "years",
    "MONTHS": "months",
    "WEEKS": "weeks",
    "DAYS": "days",
    "HOURS": "hours",
    "MINUTES": "minutes",
    "SECONDS": "seconds",
}
_MAX_PROJECTED = 2_000_000


def _strftime_format(java: str) -> str:
    def repl(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("'"):
            return text.strip("'")
        if text not in _JAVA_DATE:
            raise QueryFailed("HIVE_INVALID_METADATA", f"Unsupported projection date format element {text!r}")
        return _JAVA_DATE[text]

    return re.sub(r"'[^']*'|[A-Za-z]+", repl, java)


def _shift(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("years", "months"):
        months = moment.month - 1 + amount * (12 if unit == "years" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    return moment + dt.timedelta(**{unit: amount})


def _projection_bound(text: str, fmt: str, now: dt.datetime) -> dt.datetime:
    text = text.strip()
    match = re.fullmatch(r"NOW(?:\s*([+-])\s*(\d+)\s*([A-Za-z]+?)S?)?", text, re.IGNORECASE)
    if match:
        if not match.group(1):
            return now
        unit = _UNITS.get(match.group(3).upper() + "S")
        if unit is None:
            raise QueryFailed("HIVE_INVALID_METADATA", f"Unsupported projection range unit in {text!r}")
        amount = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
        return _shift(now, amount, unit)
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        raise QueryFailed(
            "HIVE_INVALID_METADATA", f"Projection range value {text!r} does not match its format"
        ) from None


def _projected_values(table: Table, key: str, injected: dict[str, set[str]]) -> list[str]:
    params = table.parameters
    kind = params.get(f"projection.{key}.type", "").lower()
    if kind == "injected":  # the values are the query's own: it must name them
        if key not in injected:
            raise QueryFailed(
                "CONSTRAINT_VIOLATION",
                f"For the injected projected partition column {key}, the WHERE clause must contain only "
                "static equality conditions, and at least one such condition must be present.",
            )
        return sorted(injected[key])
    if kind == "enum":
        return [v.strip() for v in params.get(f"projection.{key}.values", "").split(",") if v.strip()]
    if kind == "integer":
        low, high = (int(v) for v in params[f"projection.{key}.range"].split(","))
        step = int(params.get(f"projection.{key}.interval", "1"))
        digits = int(params.get(f"projection.{key}.digits", "0"))
        return [str(v).zfill(digits) for v in range(low, high + 1, step)]
    if kind == "date":
        java = params.get(f"projection.{key}.format", "yyyy-MM-dd")
        fmt = _strftime_format(java)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start_text, end_text = params[f"projection.{key}.range"].split(",")
        start, end = _projection_bound(start_text, fmt, now), _projection_bound(end_text, fmt, now)
        finest = next(
            (
                u
                for tok, u in (
                    ("ss", "seconds"),
                    ("mm", "minutes"),
                    ("HH", "hours"),
                    ("dd", "days"),
                    ("MM", "months"),
                )
                if tok in java
            ),
            "years",
        )
        unit = _UNITS.get(params.get(f"projection.{key}.interval.unit", "").upper(), finest)
        step = int(params.get(f"projection.{key}.interval", "1"))
        values, moment = [], start
        while moment <= end:
            values.append(moment.strftime(fmt))
            if len(values) > _MAX_PROJECTED:
                raise QueryFailed(
                    "HIVE_EXCEEDED_PARTITION_LIMIT", f"Projection of {key} yields too many partitions"
                )
            moment = _shift(moment, step, unit)
        return list(dict.fromkeys(values))
    raise QueryFailed(
        "HIVE_INVALID_METADATA",
        f"Column '{key}': projection type {kind or '(missing)'} is not supported by the local Athena",
    )


def projected_partitions(
    table: Table, injected: dict[str, set[str]] | None = None
) -> list[tuple[list[str], str]]:
    """Every partition the table's projection enumerates; ``injected``: the values the query's WHERE
    clause gives each key (``key = 'v'``, ``key IN (...)``), which an ``injected`` key takes."""
    keys = [k for k, _ in table.partition_keys]
    columns = [_projected_values(table, k, injected or {}) for k in keys]
    template = table.parameters.get("storage.location.template")
    combos: list[list[str]] = [[]]
    for values in columns:
        combos = [[*c, v] for c in combos for v in values]
    out = []
    for values in combos:
        if template:
            location = template
            for k, v in zip(keys, values, strict=True):
                location = location.replace("${" + k + "}", v)
        else:
            location = partition_path(table.location, keys, values)
        out.append((values, location))
    return out
