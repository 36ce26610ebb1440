"""The Reports page: a small FastAPI app the Airflow API server mounts at ``/reports``.

``/reports/`` lists the days that have a report, ``/reports/day/<YYYY-MM-DD>`` serves that day's
page from S3 (through the AWS connection). Every route needs an Airflow login: a bearer token, or the
``_token`` cookie the UI sets when a person signs in (Airflow's own ``get_user`` dependency).
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from datalake.reports.store import ReportStore

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Reports</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#1f2937}}
li{{margin:4px 0}}a{{color:#2563eb}}.empty{{color:#64748b}}</style></head>
<body><h1>Daily data lake reports</h1>{body}</body></html>"""


def _authenticated() -> Any:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return Depends(requires_authenticated())


def get_store() -> ReportStore:
    return ReportStore()


StoreDep = Annotated[ReportStore, Depends(get_store)]


def create_app() -> FastAPI:
    app = FastAPI(
        title="Data lake reports",
        description="The daily summaries of the data lake, read from S3.",
        dependencies=[_authenticated()],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/", response_class=HTMLResponse)
    def list_reports(store: StoreDep) -> HTMLResponse:
        days = store.list_days()
        if days:
            items = "".join(f'<li><a href="day/{html.escape(d)}">{html.escape(d)}</a></li>' for d in days)
            body = f'<p>{len(days)} day(s), newest first.</p><ul id="reports">{items}</ul>'
        else:
            body = '<p class="empty">No reports yet: the daily_summaries DAG writes one per day.</p>'
        return HTMLResponse(_PAGE.format(body=body))

    @app.get("/api/days")
    def list_days(store: StoreDep) -> dict[str, list[str]]:
        return {"days": store.list_days()}

    @app.get("/day/{day}", response_class=HTMLResponse)
    def show_report(day: str, store: StoreDep) -> HTMLResponse:
        try:
            page = store.read_report(day)
        except ValueError:
            raise HTTPException(status_code=404, detail=f"not a day: {day!r} (expected YYYY-MM-DD)") from None
        if page is None:
            raise HTTPException(status_code=404, detail=f"no report for {day}")
        return HTMLResponse(page)

    return app
