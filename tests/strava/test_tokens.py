"""Token refresh: only when needed, persisted where the connection lives before use, never leaked.

All over real HTTP: the Strava stand-in, Airflow's own api-server (sharing this process's metadata DB),
and the local AWS Secrets Manager.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from datalake.strava.errors import MaskedTokenError, StravaAuthorizationError, TokenPersistenceError
from datalake.strava.hook import StravaHook
from datalake.strava.store import SecretsManagerStore, store_for
from datalake.strava.tokens import ensure_fresh_tokens, exchange_refresh_token
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import ApiServer, put_strava_connections, strava_conn_uri_env, strava_extra


def _token_posts(standin: StravaStandIn) -> int:
    return sum(1 for r in standin.requests if r.path == "/oauth/token")


@pytest.fixture
def db_connections(airflow_api: ApiServer, strava: StravaStandIn, metastore_reads: None) -> ApiServer:
    """``strava_default`` in the metadata DB (refresh token only) and ``airflow_api`` to write it back."""
    put_strava_connections(airflow_api, strava)
    return airflow_api


def _stored_extra(api: ApiServer, conn_id: str) -> dict[str, Any]:
    """The extra as the metadata DB holds it (read unmasked the way a worker reads it)."""
    from airflow.sdk.bases.hook import BaseHook

    return BaseHook.get_connection(conn_id).extra_dejson


def test_a_rotated_refresh_token_survives_into_the_next_run(db_connections: ApiServer, strava) -> None:
    first = strava.refresh_token
    outcome = StravaHook("strava_default").ensure_fresh_token()
    assert outcome.refreshed
    assert outcome.rotated
    stored = _stored_extra(db_connections, "strava_default")
    assert stored["refresh_token"] == strava.refresh_token != first
    assert stored["access_token"]
    assert stored["expires_at"] > time.time()

    # the old refresh token is refused by Strava now
    with pytest.raises(StravaAuthorizationError):
        exchange_refresh_token(
            strava.base_url, strava.client_id, strava.client_secret, first, conn_id="strava_default"
        )

    # the next run: the access token is reused; once it is gone the stored refresh token still works
    assert not StravaHook("strava_default").ensure_fresh_token().refreshed
    strava.expire_access_tokens()
    second = strava.refresh_token
    outcome = StravaHook("strava_default").ensure_fresh_token(margin_s=10**9)
    assert outcome.refreshed
    assert _stored_extra(db_connections, "strava_default")["refresh_token"] == strava.refresh_token != second
    athlete = StravaHook("strava_default").client().athlete()
    assert athlete["id"]


def test_a_run_holding_a_token_another_run_just_rotated_uses_the_new_one(
    db_connections: ApiServer, strava
) -> None:
    late = StravaHook("strava_default")
    late.connection()  # read before the other run refreshes: it holds the refresh token about to die
    first = strava.refresh_token
    assert StravaHook("strava_default").ensure_fresh_token().rotated  # the other run
    assert strava.refresh_token != first

    outcome = late.ensure_fresh_token(margin_s=10**9)  # presents `first`, refused, then reads again

    assert outcome.refreshed
    assert _stored_extra(db_connections, "strava_default")["refresh_token"] == strava.refresh_token
    assert late.client().athlete()["id"]


def test_a_refused_refresh_token_that_nobody_rotated_still_fails_at_once(
    db_connections: ApiServer, strava
) -> None:
    strava.revoke_refresh_token()
    with pytest.raises(StravaAuthorizationError, match="activity:read_all"):
        StravaHook("strava_default").ensure_fresh_token()


def test_a_valid_access_token_is_reused_without_calling_strava(db_connections: ApiServer, strava) -> None:
    StravaHook("strava_default").ensure_fresh_token()
    posts = _token_posts(strava)
    outcome = StravaHook("strava_default").ensure_fresh_token()
    assert not outcome.refreshed
    assert _token_posts(strava) == posts


def test_the_ui_test_button_connects(db_connections: ApiServer, strava) -> None:
    ok, message = StravaHook("strava_default").test_connection()
    assert ok, message
    assert "athlete" in message


def test_a_401_refreshes_once_persists_and_carries_on(db_connections: ApiServer, strava) -> None:
    StravaHook("strava_default").ensure_fresh_token()
    strava.expire_access_tokens()
    before = strava.refresh_token
    client = StravaHook("strava_default").client()
    assert client.athlete()["id"]
    assert _stored_extra(db_connections, "strava_default")["refresh_token"] == strava.refresh_token != before


def test_a_revoked_refresh_token_fails_at_once_with_how_to_reauthorise(
    db_connections: ApiServer, strava
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    strava.revoke_refresh_token()
    with pytest.raises(StravaAuthorizationError) as caught:
        StravaHook("strava_default").ensure_fresh_token()
    assert isinstance(caught.value, AirflowFailException)  # no retries
    assert "activity:read_all" in str(caught.value)
    assert "Re-authorise" in str(caught.value)


def test_a_masked_refresh_token_is_never_sent(strava, monkeypatch: pytest.MonkeyPatch) -> None:
    name, value = strava_conn_uri_env("strava_masked", strava, refresh_token="***")
    monkeypatch.setenv(name, value)
    with pytest.raises(MaskedTokenError, match=r"'\*\*\*'"):
        StravaHook("strava_masked").ensure_fresh_token()
    assert _token_posts(strava) == 0


def test_an_env_var_connection_fails_with_instructions_before_refreshing(strava, monkeypatch, caplog) -> None:
    name, value = strava_conn_uri_env("strava_env", strava)
    monkeypatch.setenv(name, value)
    with pytest.raises(TokenPersistenceError) as caught:
        StravaHook("strava_env").ensure_fresh_token()
    message = str(caught.value)
    assert "AIRFLOW_CONN_STRAVA_ENV" in message
    assert "Remove" in message
    assert "airflow connections add strava_env" in message
    assert _token_posts(strava) == 0  # the stored refresh token is untouched and still valid
    assert strava.refresh_token not in message
    assert strava.refresh_token not in caplog.text
    assert strava.client_secret not in caplog.text


def test_a_failing_write_back_fails_and_says_the_token_rotated(
    airflow_api: ApiServer, strava, metastore_reads: None
) -> None:
    put_strava_connections(
        airflow_api, strava, strava_conn_id="strava_unwritable", api_conn_id="airflow_api_bad_write"
    )
    from airflow.sdk.bases.hook import BaseHook

    conn = BaseHook.get_connection("strava_unwritable")
    from datalake.strava.store import AirflowApiStore

    class RemovedAfterCheck(AirflowApiStore):
        """The connection is deleted between the check and the write (a real race, over real HTTP)."""

        def check(self, conn, deadline) -> None:
            super().check(conn, deadline)
            airflow_api.call("DELETE", f"/connections/{conn.conn_id}")

    store = RemovedAfterCheck("airflow_api_bad_write", attempts=2, wait_max=0.1)
    with pytest.raises(TokenPersistenceError) as caught:
        ensure_fresh_tokens(conn, lambda _id: store)
    assert "rotated" in str(caught.value)
    assert "Re-authorise" in str(caught.value)
    assert strava.refresh_token not in str(caught.value)


def test_a_connection_in_secrets_manager_is_updated_there(local_aws: str, strava, monkeypatch) -> None:
    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=local_aws, region_name="us-east-1")
    secret_id = f"airflow/connections/strava_sm_{int(time.time() * 1000)}"
    conn_id = secret_id.rsplit("/", 1)[1]
    doc = {
        "conn_type": "strava",
        "host": strava.base_url,
        "login": strava.client_id,
        "password": strava.client_secret,
        "extra": strava_extra(strava),
    }
    sm.create_secret(Name=secret_id, SecretString=json.dumps(doc))
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND",
        "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    )
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND_KWARGS",
        json.dumps(
            {
                "connections_prefix": "airflow/connections",
                "endpoint_url": local_aws,
                "region_name": "us-east-1",
            }
        ),
    )
    store = store_for(conn_id, "airflow_api")
    assert isinstance(store, SecretsManagerStore)

    from airflow.sdk import Connection

    conn = Connection(conn_id=conn_id, **{**doc, "extra": json.dumps(doc["extra"])})
    first = strava.refresh_token
    tokens, outcome = ensure_fresh_tokens(conn, lambda _id: store)
    assert outcome.rotated
    saved = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    assert saved["extra"]["refresh_token"] == strava.refresh_token != first
    assert saved["extra"]["access_token"] == tokens.access_token
    assert saved["login"] == strava.client_id  # the rest of the secret is kept
