"""The provider's hooks, made through the package's session factory (``[aws] session_factory``, as the
production image and the stack set it): one botocore loader for the process, everything else each
session's own, and clients that work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from botocore.loaders import Loader

from datalake import aws
from datalake.aws_sessions import SessionFactory, shared_loader
from tests.environment import environment


def _loader(client: object) -> Loader:
    return client._loader  # type: ignore[attr-defined]  # botocore keeps the client's loader here


def test_the_provider_takes_the_packages_session_factory_from_the_configuration():
    from airflow.providers.amazon.aws.hooks import base_aws

    assert base_aws.SessionFactory is SessionFactory


@pytest.mark.parametrize("first", ["datalake.aws_sessions", "airflow.providers.amazon.aws.hooks.base_aws"])
def test_the_provider_finds_the_factory_whichever_module_a_process_imports_first(first):
    probe = (
        f"import {first}\n"
        "from datalake.aws_sessions import SessionFactory\n"
        "from airflow.providers.amazon.aws.hooks import base_aws\n"
        "print(base_aws.SessionFactory is SessionFactory)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert found.stdout.split()[-1:] == ["True"], found.stderr[-2000:]


def test_every_hooks_client_reads_the_models_of_one_loader_and_works(local_aws):
    s3, athena, glue = aws.s3(), aws.athena(), aws.glue()
    assert _loader(s3) is _loader(athena) is _loader(glue)
    assert isinstance(_loader(s3), Loader)

    bucket = f"sessions-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    aws.s3_hook().load_bytes(b"{}", key="a.json", bucket_name=bucket)
    assert [o["Key"] for o in aws.s3().list_objects_v2(Bucket=bucket)["Contents"]] == ["a.json"]
    # boto3's resources come from the data path boto3 adds to the (shared) loader
    assert [o.key for o in aws.s3_hook().get_bucket(bucket).objects.all()] == ["a.json"]


def test_the_shared_loader_keeps_each_search_path_once_however_many_sessions_use_it(local_aws):
    aws.s3()
    paths = list(_loader(aws.s3()).search_paths)
    for _ in range(5):
        aws.s3_hook().get_session()
    assert list(_loader(aws.s3()).search_paths) == paths
    assert any(path.endswith("boto3/data") for path in paths), paths


def test_credentials_stay_each_connections_own(local_aws):
    def connection(key: str) -> str:
        return json.dumps(
            {
                "conn_type": "aws",
                "login": key,
                "password": uuid.uuid4().hex,
                "extra": {"endpoint_url": local_aws},
            }
        )

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    with environment(
        AIRFLOW_CONN_SESSIONS_A=connection("AKIA1"), AIRFLOW_CONN_SESSIONS_B=connection("AKIA2")
    ):
        a, b = S3Hook(aws_conn_id="sessions_a"), S3Hook(aws_conn_id="sessions_b")
        keys = [hook.get_session().get_credentials().access_key for hook in (a, b)]
        assert keys == ["AKIA1", "AKIA2"]
        assert _loader(a.get_conn()) is _loader(b.get_conn())


@pytest.mark.parametrize("data_path", ["/tmp/models-a", None])
def test_a_data_path_gets_its_own_loader_that_searches_it_first(data_path):
    loader = shared_loader(data_path)
    assert shared_loader(data_path) is loader
    assert (loader.search_paths[0] == data_path) is (data_path is not None)
    assert shared_loader("/tmp/models-other") is not loader
