"""A store that can be read but not written gets no refresh: nothing goes to Strava, the stored refresh
token keeps working, and the error names the missing permission.

Over real servers: Airflow's API server with a user who may read connections but not edit them, and a
local AWS (its own process) that enforces IAM, with a role allowed GetSecretValue but not PutSecretValue.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from airflow.sdk import Connection

from datalake.strava.errors import TokenPersistenceError
from datalake.strava.hook import StravaHook
from datalake.strava.store import store_for
from datalake.strava.tokens import ensure_fresh_tokens, exchange_refresh_token
from devstack.processes import spawn_until_ready, stop_group
from devstack.strava_api import StravaStandIn
from tests.strava.conftest import ApiServer, put_strava_connections, strava_extra, token_posts

REGION = "us-east-1"


def _old_token_still_works(strava: StravaStandIn, refresh_token: str) -> None:
    assert token_posts(strava) == 0  # nothing was sent to Strava
    assert strava.refresh_token == refresh_token
    tokens = exchange_refresh_token(
        strava.base_url, strava.client_id, strava.client_secret, refresh_token, conn_id="check"
    )
    assert tokens.access_token


def test_an_airflow_api_user_who_may_read_but_not_edit_connections_gets_no_refresh(
    airflow_api: ApiServer, strava: StravaStandIn, metastore_reads: None
) -> None:
    put_strava_connections(
        airflow_api, strava, strava_conn_id="strava_ro", api_conn_id="airflow_api_viewer", api_user="viewer"
    )
    viewer = requests.post(
        f"{airflow_api.api_url}/auth/token",
        json={"username": "viewer", "password": airflow_api.viewer_password},
        timeout=30,
    ).json()["access_token"]
    readable = requests.get(
        f"{airflow_api.api_url}/api/v2/connections/strava_ro",
        headers={"Authorization": f"Bearer {viewer}"},
        timeout=30,
    )
    assert readable.status_code == 200  # the user can read the connection: a read check passes
    first = strava.refresh_token

    with pytest.raises(TokenPersistenceError) as caught:
        StravaHook("strava_ro", airflow_api_conn_id="airflow_api_viewer").ensure_fresh_token()

    message = str(caught.value)
    assert "may not edit connection 'strava_ro'" in message
    assert "Missing permission: edit (PUT) on Connections" in message
    assert "not attempted" in message
    assert first not in message
    _old_token_still_works(strava, first)


@dataclass
class IamAws:
    url: str
    admin: dict[str, str]  # access keys allowed everything
    reader: dict[str, str]  # access keys allowed GetSecretValue and DescribeSecret only

    def client(self, keys: dict[str, str]) -> Any:
        """A Secrets Manager client with ``keys`` (given outright: boto3's default session caches the
        credentials it found first)."""
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )


def _user(iam: Any, name: str, actions: list[str]) -> dict[str, str]:
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def iam_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamAws]:
    """A local AWS of its own that enforces IAM (moto enforces it process-wide, hence not the session's)."""
    log_path = tmp_path_factory.mktemp("iam-aws") / "aws.log"
    proc, url = spawn_until_ready([sys.executable, "-m", "devstack.aws", "--port", "0"], log_path=log_path)
    try:
        # before enforcement any keys do
        iam = boto3.client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        admin = _user(iam, "admin", ["*"])
        reader = _user(
            iam, "secrets-reader", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        )
        enforced = requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=10)
        assert enforced.status_code == 200, enforced.text
        yield IamAws(url, admin, reader)
    finally:
        stop_group(proc.pid)


def test_a_role_with_get_but_not_put_secret_value_gets_no_refresh(
    iam_aws: IamAws, strava: StravaStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_id, conn_id = "airflow/connections/strava_sm_ro", "strava_sm_ro"
    doc = {
        "conn_type": "strava",
        "host": strava.base_url,
        "login": strava.client_id,
        "password": strava.client_secret,
        "extra": strava_extra(strava),
    }
    iam_aws.client(iam_aws.admin).create_secret(Name=secret_id, SecretString=json.dumps(doc))
    for name, value in iam_aws.reader.items():  # the task's identity: the secrets backend reads it here
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND",
        "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    )
    kwargs = {"connections_prefix": "airflow/connections", "endpoint_url": iam_aws.url, "region_name": REGION}
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps(kwargs))
    store = store_for(conn_id, "airflow_api")
    assert store.description == f"AWS Secrets Manager secret {secret_id!r}"
    first = strava.refresh_token
    readable = iam_aws.client(iam_aws.reader).get_secret_value(SecretId=secret_id)["SecretString"]
    assert json.loads(readable) == doc  # a read passes
    conn = Connection(conn_id=conn_id, **{**doc, "extra": json.dumps(doc["extra"])})

    with pytest.raises(TokenPersistenceError) as caught:
        ensure_fresh_tokens(conn, lambda _id: store)

    message = str(caught.value)
    assert "Missing permission: secretsmanager:PutSecretValue" in message
    assert "not attempted" in message
    assert first not in message
    _old_token_still_works(strava, first)
