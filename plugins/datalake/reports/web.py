"""The Reports page: a small FastAPI app the Airflow API server mounts at ``/reports``.

``/reports/`` lists the days that have a report, ``/reports/day/<YYYY-MM-DD>`` serves that day's
page from S3 (through the AWS connection).

**Who sees it.** A signed-in user (a bearer token, or the ``_token`` cookie the UI sets) whom Airflow's
auth manager lets read the ``daily_summaries`` DAG: the reports hold activity names and object keys, so
they are shown to whoever may read the DAG that wrote them (Airflow's ``requires_access_dag``), and to
nobody else. Anonymous: 401; signed in without that right: 403.

**How it is served.** Every answer carries a Content-Security-Policy under which a page runs no script,
loads nothing from anywhere (inline styles and ``data:`` images only), submits no form and is
sandboxed: a page is whatever the reports prefix holds, so whoever can write there must not be able to
run script as the Airflow user who opens it. ``frame-ancestors 'self'`` (``X-Frame-Options:
SAMEORIGIN`` for browsers without it) lets the Airflow UI show the page in its iframe, and no other
site; ``X-Content-Type-Options: nosniff`` holds the browser to the type the page is sent as.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from datalake.reports import DAG_ID
from datalake.reports.render import render_report_list
from datalake.reports.store import ReportStore

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",  # the page's own <style> and the charts' style attributes
        "img-src data:",
        "base-uri 'none'",  # default-src governs neither this nor form-action
        "form-action 'none'",
        "frame-ancestors 'self'",
        # No script, form, popup, plugin or top-level navigation. The page keeps its origin so that its
        # links (the list to a day) carry the login cookie inside the UI's iframe; with no script
        # allowed, nothing can use that origin.
        "sandbox allow-same-origin",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}


def _may_read_reports() -> Any:
    """A signed-in user allowed to read the summaries DAG (403 otherwise, 401 when not signed in)."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", param_dag_id=DAG_ID))


def get_store() -> ReportStore:
    return ReportStore()


StoreDep = Annotated[ReportStore, Depends(get_store)]


def create_app() -> FastAPI:
    app = FastAPI(
        title="Data lake reports",
        description="The daily summaries of the data lake, read from S3.",
        dependencies=[_may_read_reports()],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)  # refusals (401, 403, 404) included
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    def list_reports(store: StoreDep) -> HTMLResponse:
        return HTMLResponse(render_report_list(store.list_days()))

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
