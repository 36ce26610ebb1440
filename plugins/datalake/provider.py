"""Provider metadata: how Airflow discovers this package's connection types and hooks.

Airflow only offers a connection form (and the Test button) for connection types that an installed
distribution declares through the ``apache_airflow_provider`` entry point; ``pyproject.toml`` points
that entry point here.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "airflow-datalake"

# The Strava connection: client id and secret in login/password, the tokens in the extra (so the token
# task can write them back with one ``update_mask=extra`` PATCH). Sensitive fields use format=password.
STRAVA_CONNECTION_TYPE: dict[str, Any] = {
    "connection-type": "strava",
    "hook-class-name": "datalake.strava.hook.StravaHook",
    "hook-name": "Strava",
    "conn-fields": {
        "refresh_token": {
            "label": "Refresh token",
            "description": "From the OAuth grant with scope activity:read_all. Rotated tokens are written "
            "back here by the pipeline.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "access_token": {
            "label": "Access token",
            "description": "Maintained by the pipeline; leave empty.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "expires_at": {
            "label": "Access token expires at (epoch seconds)",
            "description": "Maintained by the pipeline; leave empty.",
            "schema": {"type": ["integer", "null"]},
        },
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {"login": "Client ID", "password": "Client secret", "host": "Strava base URL"},
        "placeholders": {
            "host": "https://www.strava.com",
            "login": "12345",
            "password": "the app's client secret",
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "Datalake (Strava and S3 Inventory pipelines)",
        "description": "Strava activities and Amazon S3 Inventory reports, kept queryable in Athena.",
        "versions": ["0.1.0"],
        "connection-types": [STRAVA_CONNECTION_TYPE],
    }
