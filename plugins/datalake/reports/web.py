"""The Reports page: a small FastAPI app the Airflow API server mounts at ``/reports``.

``/reports/`` lists the days that have a report, ``/reports/day/<YYYY-MM-DD>`` serves that day's
page from S3 (through the AWS connection). Every route needs an Airflow login: a bearer token, or the
``_token`` cookie the UI sets when a person signs in (Airflow's own ``get_user`` dependency).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from datalake.reports.render import render_report_list
from datalake.reports.store import ReportStore


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
