"""Errors that name the right cause, and the transport rules, over real HTTP.

The Strava connections live in the metadata DB, written back through the real API server, so every
refresh could go ahead: only the fault under test stops it. Where a test needs a host name that is not
this machine, a requests transport adapter delivers what is addressed to it to the stand-in instead and
records the addresses asked for (no DNS, no network).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException
from requests.adapters import HTTPAdapter

from datalake.strava.errors import StravaError
from datalake.strava.hook import StravaHook
from datalake.strava.store import AirflowApiStore
from datalake.strava.tokens import ensure_fresh_tokens, exchange_refresh_token
from devstack.strava_api import StravaStandIn
from tests.strava.api_proxy import ApiProxy, Rule
from tests.strava.conftest import ApiServer, put_strava_connections, strava_extra, token_posts


class Redirect(HTTPAdapter):
    """Delivers requests addressed to ``origin`` to ``target`` and records the URLs they were sent to."""

    def __init__(self, origin: str, target: str) -> None:
        super().__init__()
        self.origin, self.target = origin, target
        self.sent: list[str] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request.url)
        request.url = self.target + request.url[len(self.origin) :]
        return super().send(request, *args, **kwargs)


def redirecting(origin: str, target: str) -> tuple[requests.Session, Redirect]:
    session = requests.Session()
    adapter = Redirect(origin, target)
    session.mount(origin, adapter)
    return session, adapter


def _put_strava(api: ApiServer, strava: StravaStandIn, conn_id: str, **fields: Any) -> None:
    put_strava_connections(api, strava, strava_conn_id=conn_id)
    api.put_connection(
        conn_id,
        conn_type="strava",
        **{
            "host": strava.base_url,
            "login": strava.client_id,
            "password": strava.client_secret,
            "extra": strava_extra(strava),
            **fields,
        },
    )


def _still_valid(strava: StravaStandIn, refresh_token: str) -> None:
    assert strava.refresh_token == refresh_token
    assert exchange_refresh_token(
        strava.base_url, strava.client_id, strava.client_secret, refresh_token, conn_id="check"
    ).access_token


@pytest.fixture
def db(airflow_api: ApiServer, metastore_reads: None) -> ApiServer:
    return airflow_api


# -- what Strava refused -----------------------------------------------------------------------------------
def test_a_wrong_client_secret_is_named_as_such_not_as_a_bad_refresh_token(db: ApiServer, strava) -> None:
    _put_strava(db, strava, "strava_bad_secret", password="not-the-client-secret")
    first = strava.refresh_token
    with pytest.raises(AirflowFailException) as caught:
        StravaHook("strava_bad_secret").ensure_fresh_token()
    message = str(caught.value)
    assert "refused the app credentials of connection 'strava_bad_secret'" in message
    assert "field client_secret" in message
    assert "password (Client Secret)" in message
    assert "Re-authorise" not in message  # the refresh token is fine
    assert "not-the-client-secret" not in message
    _still_valid(strava, first)


def test_a_masked_client_secret_is_refused_like_a_masked_token_and_never_sent(db: ApiServer, strava) -> None:
    _put_strava(db, strava, "strava_masked_secret", password="***")
    with pytest.raises(AirflowFailException) as caught:
        StravaHook("strava_masked_secret").ensure_fresh_token()
    assert "client secret (password) holds the masked placeholder '***'" in str(caught.value)
    assert token_posts(strava) == 0


def test_a_failed_re_login_after_the_rotation_says_the_token_rotated_and_loses_nothing(
    db: ApiServer, strava, api_proxy: ApiProxy
) -> None:
    put_strava_connections(
        db, strava, strava_conn_id="strava_relogin", api_conn_id="airflow_api_relogin", api_host=api_proxy.url
    )
    # The write-back's token is refused (expired, say), and so is the login that follows it.
    api_proxy.add(Rule("PATCH", "/api/v2/connections/strava_relogin", {"update_mask": "extra"}, status=401))
    api_proxy.add(Rule("POST", "/auth/token", status=401, skip=1))
    first = strava.refresh_token
    hook = StravaHook("strava_relogin", airflow_api_conn_id="airflow_api_relogin")

    with pytest.raises(StravaError) as caught:
        hook.ensure_fresh_token()

    message = str(caught.value)
    assert strava.refresh_token != first  # Strava rotated it
    assert "Strava has rotated the refresh token" in message
    assert "refused the login of connection 'airflow_api_relogin' (HTTP 401)" in message
    assert "datalake_strava_token_journal__strava_relogin" in message  # where the new one waits
    assert strava.refresh_token not in message
    assert not isinstance(caught.value, AirflowFailException)  # retried: the next try recovers it

    api_proxy.rules.clear()  # the login works again: the next try writes what the journal kept
    outcome = StravaHook("strava_relogin", airflow_api_conn_id="airflow_api_relogin").ensure_fresh_token()
    from airflow.sdk.bases.hook import BaseHook

    assert BaseHook.get_connection("strava_relogin").extra_dejson["refresh_token"] == strava.refresh_token
    assert outcome.recovered
    assert not outcome.refreshed
    assert token_posts(strava) == 1  # no second refresh, no re-authorisation


# -- answers that are not JSON ---------------------------------------------------------------------------
def test_an_html_page_from_the_token_endpoint_names_the_endpoint_and_the_connection(
    db: ApiServer, strava
) -> None:
    _put_strava(db, strava, "strava_portal")
    first = strava.refresh_token
    strava.html_next(1)
    with pytest.raises(StravaError) as caught:
        StravaHook("strava_portal").ensure_fresh_token()
    message = str(caught.value)
    assert f"Strava's token endpoint {strava.base_url}/oauth/token (connection 'strava_portal')" in message
    assert "answered HTTP 200 with text/html instead of JSON" in message
    assert "host must be Strava's API" in message
    _still_valid(strava, first)


def test_an_html_page_from_the_strava_api_names_the_endpoint_and_the_connection(
    db: ApiServer, strava
) -> None:
    _put_strava(db, strava, "strava_api_portal")
    hook = StravaHook("strava_api_portal")
    hook.ensure_fresh_token()
    strava.html_next(1)
    with pytest.raises(StravaError) as caught:
        hook.client().athlete()
    message = str(caught.value)
    assert f"Strava GET {strava.base_url}/api/v3/athlete (connection 'strava_api_portal')" in message
    assert "text/html instead of JSON" in message


def test_an_html_page_from_the_airflow_api_login_names_the_endpoint_and_the_connection(
    db: ApiServer, strava, api_proxy: ApiProxy
) -> None:
    put_strava_connections(
        db, strava, strava_conn_id="strava_html_api", api_conn_id="airflow_api_html", api_host=api_proxy.url
    )
    api_proxy.add(Rule("POST", "/auth/token", html=True))
    first = strava.refresh_token
    with pytest.raises(AirflowFailException) as caught:
        StravaHook("strava_html_api", airflow_api_conn_id="airflow_api_html").ensure_fresh_token()
    message = str(caught.value)
    assert f"Airflow's API login {api_proxy.url}/auth/token (connection 'airflow_api_html')" in message
    assert "text/html instead of JSON" in message
    assert "API server's base URL" in message
    assert "not attempted" in message
    assert token_posts(strava) == 0
    _still_valid(strava, first)


# -- transport --------------------------------------------------------------------------------------------
def test_a_bare_strava_host_is_reached_over_https_by_the_exchange_and_the_api_alike(
    db: ApiServer, strava
) -> None:
    _put_strava(db, strava, "strava_bare_host", host="www.strava.com")
    session, adapter = redirecting("https://www.strava.com", strava.base_url)
    hook = StravaHook("strava_bare_host", session=session)

    assert hook.ensure_fresh_token().refreshed
    assert hook.client().athlete()["id"]

    assert adapter.sent == ["https://www.strava.com/oauth/token", "https://www.strava.com/api/v3/athlete"]
    from airflow.sdk.bases.hook import BaseHook

    assert BaseHook.get_connection("strava_bare_host").extra_dejson["refresh_token"] == strava.refresh_token


def test_plain_http_to_a_strava_host_off_this_machine_is_refused_before_anything_is_sent(
    db: ApiServer, strava
) -> None:
    _put_strava(db, strava, "strava_plain_http", host="http://strava.example.com")
    session, adapter = redirecting("http://strava.example.com", strava.base_url)
    with pytest.raises(AirflowFailException) as caught:
        StravaHook("strava_plain_http", session=session).ensure_fresh_token()
    message = str(caught.value)
    assert "plain http to a host that is not this machine" in message
    assert "https://strava.example.com" in message
    assert adapter.sent == []
    assert token_posts(strava) == 0


def test_plain_http_to_an_airflow_api_off_this_machine_is_refused_before_the_login(
    db: ApiServer, strava
) -> None:
    put_strava_connections(
        db,
        strava,
        strava_conn_id="strava_api_plain",
        api_conn_id="airflow_api_plain",
        api_host="http://airflow.example.com",
    )
    session, adapter = redirecting("http://airflow.example.com", db.api_url)
    store = AirflowApiStore("airflow_api_plain", session=session)
    from airflow.sdk.bases.hook import BaseHook

    with pytest.raises(AirflowFailException) as caught:
        ensure_fresh_tokens(BaseHook.get_connection("strava_api_plain"), lambda _id: store)
    assert "Connection 'airflow_api_plain' points at http://airflow.example.com" in str(caught.value)
    assert adapter.sent == []  # the password never left
    assert token_posts(strava) == 0


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("www.strava.com", "https://www.strava.com"),
        ("https://www.strava.com/", "https://www.strava.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.42.0.9", "http://127.42.0.9"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://10.0.0.7:8080", None),
        ("http://127.0.0.1.nip.io", None),
        ("http://strava.example.com", None),
        ("ftp://www.strava.com", None),
    ],
)
def test_https_is_required_except_on_loopback_addresses(host: str, allowed: str | None) -> None:
    from datalake.strava.errors import ConnectionUrlError
    from datalake.strava.http import service_url

    if allowed is None:
        with pytest.raises(ConnectionUrlError):
            service_url(host, conn_id="c")
    else:
        assert service_url(host, conn_id="c") == allowed


def test_plain_http_on_a_private_network_needs_the_connections_own_opt_in() -> None:
    from datalake.strava.http import service_url

    assert (
        service_url("http://strava-api:8000", conn_id="c", allow_insecure_http=True)
        == "http://strava-api:8000"
    )


# -- masking ----------------------------------------------------------------------------------------------
def test_a_masker_that_fails_fails_the_task_before_anything_is_sent(
    db: ApiServer, strava, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_strava(db, strava, "strava_no_masker")

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the masker is broken")

    monkeypatch.setattr("airflow.sdk.log.mask_secret", broken)  # a fault in Airflow, not in this package
    with pytest.raises(AirflowFailException) as caught:
        StravaHook("strava_no_masker").ensure_fresh_token()
    assert "secrets masker" in str(caught.value)
    assert token_posts(strava) == 0
