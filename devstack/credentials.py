"""The embedded stack's AWS identity, and how a client reaches the local endpoint.

moto accepts any credentials, so the stack's are fixed and nothing real. Every boto3 client the stack
builds comes from :func:`client`, every process it points at the endpoint gets :func:`client_environment`,
and every Airflow connection to it :func:`aws_connection`.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts any credentials; nothing real here


def client_environment(endpoint_url: str) -> dict[str, str]:
    """Environment variables that point boto3, the aws CLI and the provider at this endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def client(service: str, endpoint_url: str, *, region: str = REGION, config: Config | None = None) -> Any:
    """A boto3 client of ``service`` at the local endpoint, with the stack's credentials."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=config,
    )


def aws_connection(endpoint_url: str) -> dict[str, Any]:
    """The fields of an Airflow ``aws`` connection to the local endpoint (as the REST API names them)."""
    return {
        "conn_type": "aws",
        "login": ACCESS_KEY_ID,
        "password": SECRET_ACCESS_KEY,
        "extra": {"endpoint_url": endpoint_url, "region_name": REGION},
    }
