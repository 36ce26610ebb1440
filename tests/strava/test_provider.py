"""The ``strava`` connection type is discovered by Airflow with its form, and its hook follows conventions."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def providers():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_airflow_discovers_the_strava_hook_through_the_provider_entry_point(providers) -> None:
    hook = providers.hooks["strava"]
    assert hook is not None
    assert hook.hook_class_name == "datalake.strava.hook.StravaHook"
    assert hook.connection_type == "strava"
    assert hook.hook_name == "Strava"


def test_the_connection_form_has_sensitive_token_fields(providers) -> None:
    widgets = providers.connection_form_widgets
    refresh = widgets["extra__strava__refresh_token"]
    assert refresh.is_sensitive
    assert widgets["extra__strava__access_token"].is_sensitive
    assert not widgets["extra__strava__expires_at"].is_sensitive
    assert refresh.field["schema"]["title"] == "Refresh token"


def test_the_form_relabels_login_and_password_and_hides_unused_fields(providers) -> None:
    behaviour = providers.field_behaviours["strava"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["relabeling"]["password"] == "Client secret"
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}
    assert behaviour["placeholders"]["host"] == "https://www.strava.com"


def test_the_hook_follows_airflow_hook_conventions() -> None:
    from datalake.strava.hook import StravaHook

    assert StravaHook.conn_name_attr == "strava_conn_id"
    assert StravaHook.default_conn_name == "strava_default"
    assert StravaHook.conn_type == "strava"
    assert callable(StravaHook.test_connection)
    hook = StravaHook("does_not_exist")  # nothing is resolved in __init__
    assert hook._conn is None
