"""Provider metadata: how Airflow discovers this package's connection types and hooks.

Airflow only offers a connection form (and the Test button) for connection types that an installed
distribution declares through the ``apache_airflow_provider`` entry point; ``pyproject.toml`` points
that entry point here.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "airflow-datalake"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "Datalake (Strava and S3 Inventory pipelines)",
        "description": "Strava activities and Amazon S3 Inventory reports, kept queryable in Athena.",
        "versions": ["0.1.0"],
        "connection-types": [],
    }
