"""The boto3 sessions behind the provider's AWS hooks: one botocore data loader for the whole process.

Each hook makes a boto3 session of its own, and a new session reads botocore's models again (the
endpoints and the service's API, about 2 MB of JSON: some 0.1 s for every client a task makes). The
models are the same for every session of a process, so the sessions this factory makes share one
loader, as the provider's own async sessions do; credentials, region and client configuration stay
each session's own.

It is the Amazon provider's documented extension point, set in Airflow's configuration::

    [aws]
    session_factory = datalake.aws_sessions.SessionFactory

(``AIRFLOW__AWS__SESSION_FACTORY``; the production image and the embedded stack set it). Without it
everything works the same, each client only takes longer to make. A connection with a ``role_arn``
makes its assumed-role sessions as the provider does, without the shared loader.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

import boto3
import botocore.loaders
import botocore.session

# the value of ``[aws] session_factory`` that selects this module's factory
SESSION_FACTORY = f"{__name__}.SessionFactory"


class _SearchPaths(list):
    """A loader's search paths, each once: boto3 adds its own data path to the loader of every
    session it makes, and a shared loader would otherwise gain one copy per session."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        super().__init__()
        self.extend(paths)

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)

    def extend(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.append(path)


@functools.cache
def shared_loader(data_path: str | None) -> botocore.loaders.Loader:
    """The process's loader for botocore's ``data_path`` setting (``AWS_DATA_PATH``), made once."""
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep) if p]
    return botocore.loaders.Loader(extra_search_paths=_SearchPaths(extra))


def basic_session(session_kwargs: dict[str, Any]) -> boto3.session.Session:
    """A boto3 session as the provider makes it, on the process's shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", shared_loader(core.get_config_variable("data_path")))
    return boto3.session.Session(botocore_session=core, **session_kwargs)


def __getattr__(name: str) -> Any:
    """``SessionFactory``, made on first use. The provider's hook module reads the configured factory
    while it is first imported, so this module cannot import that one when it is itself imported (a
    process that imported this module first would hand the provider a half-made module); and the
    import below may come back here through the provider, which then makes the class first."""
    if name != "SessionFactory":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from airflow.providers.amazon.aws.hooks.base_aws import BaseSessionFactory

    if "SessionFactory" not in globals():

        class SessionFactory(BaseSessionFactory):
            """The provider's session factory, its basic sessions on the process's one botocore loader."""

            def _create_basic_session(self, session_kwargs: dict[str, Any]) -> boto3.session.Session:
                return basic_session(session_kwargs)

        SessionFactory.__qualname__ = "SessionFactory"
        globals()["SessionFactory"] = SessionFactory
    return globals()["SessionFactory"]
