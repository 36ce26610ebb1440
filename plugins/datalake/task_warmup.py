"""What a process that forks tasks prepares once, so that every task it forks starts warm.

Airflow runs each task in a process forked from a long-lived one (the LocalExecutor's workers are
forked from the scheduler, a Celery worker forks its pool), and ``config/airflow_local_settings.py``
runs in that long-lived process at start. Each of this package's tasks makes AWS clients, and the first
client of a fresh process pays twice for what is the same in every task:

- botocore reads the models of the service (its API, endpoint rules, about 2 MB of JSON for the
  services below). The sessions of :mod:`datalake.aws_sessions` share one loader per process, so
  models loaded here are inherited by every fork.
- the provider names the calling operator in each client's user agent by walking the stack
  (``inspect.stack()``), and ``inspect`` maps the file of every imported module the first time it is
  asked for a frame's module: about 0.1 s with boto3 and the providers imported. Asked once here,
  the forks inherit the map.

Nothing here reaches AWS: the clients are made with placeholder credentials and never called, only
to load the models, and the loader is the one the tasks' sessions use only where the provider is
configured with this package's session factory (``[aws] session_factory``).
"""

from __future__ import annotations

import inspect
import sys

# the services the package's tasks call (datalake.aws, the alerts' SNS notifier)
SERVICES = ("athena", "glue", "s3", "sns")


def warm_up() -> None:
    """Load :data:`SERVICES`' models into the process's shared botocore loader (when the provider
    uses it) and fill ``inspect``'s map of module files."""
    from airflow.configuration import conf

    from datalake.aws_sessions import SESSION_FACTORY, basic_session

    if conf.get("aws", "session_factory", fallback=None) == SESSION_FACTORY:
        session = basic_session(
            {"region_name": "us-east-1", "aws_access_key_id": "warm-up", "aws_secret_access_key": "warm-up"}
        )
        for service in SERVICES:
            session.client(service)
    inspect.getmodule(sys._getframe())
