"""The one way the package reaches AWS: hooks and clients built from configuration, here only.

Every call goes through the Airflow connection ``aws_conn_id`` of ``include/datalake.yaml`` (on the
embedded stack it carries an ``endpoint_url``; on AWS a role or nothing), in the configured region. The
provider's hooks resolve the connection lazily, so building one costs nothing until its first call.
The Athena operator's defaults live with the operator (:mod:`datalake.athena`), which reads them here.

The provider's hook modules are imported inside the functions: the DAG files import this module when
they are parsed, and only a running task needs the hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datalake.config import DatalakeConfig, get_config

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook


def connection(config: DatalakeConfig | None = None) -> dict[str, str]:
    """``aws_conn_id`` and ``region_name``, as every provider hook, operator and notifier takes them."""
    config = config or get_config()
    return {"aws_conn_id": config.aws_conn_id, "region_name": config.region}


def s3_hook(config: DatalakeConfig | None = None) -> S3Hook:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(**connection(config))


def s3(config: DatalakeConfig | None = None) -> Any:
    """A boto3 S3 client."""
    return s3_hook(config).get_conn()


def glue(config: DatalakeConfig | None = None) -> Any:
    """A boto3 Glue client (the Data Catalog: databases, tables, partitions)."""
    from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

    return GlueCatalogHook(**connection(config)).get_conn()


def athena(config: DatalakeConfig | None = None) -> Any:
    """A boto3 Athena client."""
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    return AthenaHook(**connection(config)).get_conn()
