"""What the dag-processor should import once, before it forks a process to parse each DAG file.

The dag-processor parses every DAG file again and again, each time in a fresh process forked from
itself: whatever the parse imports that the dag-processor has not imported already is paid for at every
parse. Airflow pre-imports only the ``airflow.*`` modules a DAG file names itself
(``[dag_processor] parsing_pre_import_modules``); the modules below are imported *through* this
package (the Amazon provider's operators pull in boto3, the first ``Asset`` loads the provider's
``s3://`` URI handler, ``@task.sensor`` loads the standard provider's decorator), so they are listed here
once and imported by ``config/airflow_local_settings.py``, which Airflow imports in each of its processes
at start (the embedded stack and the Docker image put that folder on the path).

The package's own parse-time modules are listed too, and :func:`pre_import` reads the configuration
once: a forked parser reuses it while the file is unchanged, and reads an edited file again at its
next parse (``datalake.config.get_config`` compares the file's identity). The price, as for Airflow's
own pre-imports: a changed *module* of that list takes effect once the Airflow processes restart (a
deployment does; on the embedded stack, ``make down && make up``).

``tests/test_dag_integrity.py`` parses the DAG files after :func:`pre_import` and fails if the parse
still imports an Airflow, boto3, provider or package module that this list misses;
``bench.dag_parse`` measures what a parse still costs.
"""

from __future__ import annotations

import contextlib
import importlib

PRE_IMPORTS = (
    # boto3 and the provider's Athena operator and hook
    "airflow.providers.amazon.aws.operators.athena",
    # the URI handlers Airflow loads for the first Asset (every installed provider's)
    "airflow.providers.amazon.aws.assets.s3",
    "airflow.providers.amazon.aws.assets.redshift",
    "airflow.providers.common.io.assets.file",
    # what ``from airflow.sdk import dag, task`` loads lazily, and @task.sensor
    "airflow.sdk.definitions.decorators",
    "airflow.sdk.definitions.retry_policy",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.standard.decorators.sensor",
    "airflow.providers.standard.operators.trigger_dagrun",
    "airflow.providers.standard.operators.empty",
    # the queue watcher of an inventory with events_queue_url: the trigger loads every provider's queues
    "airflow.providers.common.messaging.triggers.msg_queue",
    # the extensions of the Jinja environment a task builds to read its templated .sql file
    "jinja2.ext",
    # the package's own modules that the DAG files import (importing them reads no configuration)
    "datalake.dag_defaults",
    "datalake.assets",
    "datalake.alerts",
    "datalake.athena",
    "datalake.events",
    "datalake.inventory.tasks",
    "datalake.reports.operators",
    "datalake.reports.history",
    "datalake.reports.tasks",
    "datalake.strava.tasks",
)


def pre_import() -> None:
    """Import :data:`PRE_IMPORTS` and read the configuration, which forked parsers then reuse as long
    as its file is unchanged (``datalake.config.get_config``)."""
    for module in PRE_IMPORTS:
        importlib.import_module(module)
    from datalake.config import ConfigError, get_config

    with contextlib.suppress(ConfigError):  # a broken file is reported by each DAG file's parse
        get_config()
