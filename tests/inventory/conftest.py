"""Fixtures of the inventory tests: the local AWS, an ``aws_default`` connection to it, Airflow's
metadata DB, and one fresh inventory configuration (own prefix, own table) per test."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
_counter = itertools.count()


@pytest.fixture(scope="session")
def aws(local_aws: str) -> str:
    """The local endpoint, and the buckets/topic the default configuration names."""
    from datalake.config import get_config

    config = get_config()
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name=config.region)
    for bucket in {config.athena.results_bucket, *(i.destination_bucket for i in config.inventories)}:
        s3.create_bucket(Bucket=bucket)
    boto3.client("sns", endpoint_url=local_aws, region_name=config.region).create_topic(
        Name=config.alerts.sns_topic_arn.rsplit(":", 1)[-1]
    )
    return local_aws


@pytest.fixture(scope="session")
def s3(aws: str) -> Any:
    return boto3.client("s3", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture(scope="session")
def glue(aws: str) -> Any:
    return boto3.client("glue", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture(scope="session")
def athena(aws: str) -> Any:
    return boto3.client("athena", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture
def inv(aws: str) -> Any:
    """A configuration of its own for each test (own prefix, config id and table)."""
    from datalake.config import get_config

    n = next(_counter)
    base = get_config().inventory("media_daily")
    return replace(
        base,
        name=f"t{n}",
        config_id=f"cfg-{n}",
        table=f"inventory_t{n}",
        start_date="2026-11-01",
        wait_timeout_hours=100_000,  # tests that need a deadline set their own
    )


@pytest.fixture(scope="session")
def dag_module(aws: str, airflow_db: None) -> ModuleType:
    """``dags/s3_inventory.py``, for its factory ``inventory_dag``."""
    from tests.dags import dag_file

    return dag_file("s3_inventory.py")


def rewrite_manifest(s3: Any, drop: Any, change: Callable[[dict[str, Any]], Any]) -> bytes:
    """Apply ``change`` to the drop's ``manifest.json`` and write a ``manifest.checksum`` that matches,
    as a drop that is consistent but wrong would be; returns the manifest written."""
    doc = json.loads(s3.get_object(Bucket=drop.destination_bucket, Key=drop.manifest_key)["Body"].read())
    change(doc)
    raw = json.dumps(doc).encode()
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.manifest_key, Body=raw)
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    s3.put_object(Bucket=drop.destination_bucket, Key=drop.checksum_key, Body=digest.encode())
    return raw


def replace_data_file(s3: Any, drop: Any, index: int, body: bytes) -> str:
    """Put ``body`` in place of the drop's data file ``index`` with a manifest that lists its size and MD5
    (checksum consistent): only the file's content can tell it apart; returns the file's key."""
    key = drop.data_keys[index]
    s3.put_object(Bucket=drop.destination_bucket, Key=key, Body=body)

    def relist(doc: dict[str, Any]) -> None:
        entry = next(f for f in doc["files"] if f["key"] == key)
        entry.update(size=len(body), MD5checksum=hashlib.md5(body, usedforsecurity=False).hexdigest())

    rewrite_manifest(s3, drop, relist)
    return key
