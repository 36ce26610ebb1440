"""Airflow plugin: the "Reports" page in the UI and the "Daily report" button of the summaries DAG.

Airflow finds it through the distribution's ``airflow.plugins`` entry point (``pyproject.toml``), so
installing the package is all a deployment needs; nothing is copied into a plugins folder.

- ``fastapi_apps``: the reports app (``datalake.reports.web``) mounted by the API server at /reports,
  for the users Airflow's auth manager lets read the ``daily_summaries`` DAG, under a strict
  Content-Security-Policy.
- ``external_views``: a "Reports" entry in the navigation that shows /reports/ inside the UI (in an
  iframe: the page's frame policy allows its own origin).
- ``operator_extra_links``: the button on the publish task that opens that day's report.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from datalake.reports.operators import REPORTS_URL_PREFIX, DailyReportLink
from datalake.reports.web import create_app


class DatalakeReportsPlugin(AirflowPlugin):
    name = "datalake_reports"
    fastapi_apps = [  # noqa: RUF012 - AirflowPlugin's own attribute shape
        {"app": create_app(), "url_prefix": REPORTS_URL_PREFIX, "name": "Reports"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Reports",
            "href": f"{REPORTS_URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "reports",
            "icon": None,
        }
    ]
    operator_extra_links = [DailyReportLink()]  # noqa: RUF012
