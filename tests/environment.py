"""Environments of the tests: variables set for a block and restored after it, whatever happened inside;
the Python path of the Airflow processes they start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set, and the package's configuration re-read, until the block ends."""
    from datalake.config import get_config

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    get_config.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_config.cache_clear()


PROJECT_SETTINGS = Path(__file__).resolve().parents[1] / "config"  # its airflow_local_settings.py


def deployed_python_path(*extra: Path) -> str:
    """The ``PYTHONPATH`` of an Airflow process a test starts: ``extra`` and the project's Airflow local
    settings first (as the Docker image puts them on the path), then this process's."""
    return os.pathsep.join(
        filter(None, [*map(str, extra), str(PROJECT_SETTINGS), os.environ.get("PYTHONPATH")])
    )
