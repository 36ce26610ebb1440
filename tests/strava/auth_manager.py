"""The auth manager of the tests' API server: Airflow's simple auth manager, except that the viewer role
may read connections, as FAB's "can read on Connections" grants without "can edit". The simple auth
manager itself ties reading and editing connections to one role (op), so without this no user could
read a connection but not edit it."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
    SimpleAuthManager,
    SimpleAuthManagerRole,
)


class ReadOnlyViewerAuthManager(SimpleAuthManager):
    def is_authorized_connection(self, *, method: Any, user: Any, details: Any = None) -> bool:
        return self._is_authorized(
            method=method,
            allow_role=SimpleAuthManagerRole.OP,
            allow_get_role=SimpleAuthManagerRole.VIEWER,
            user=user,
            team_name=details.team_name if details else None,
        )
