"""A SQLAlchemy listener of the embedded stack switched on or off in this process for a block.

The stack's Airflow installs its SQLite listeners in every process (``devstack/airflow_settings``); a
test shows what Airflow does with and without one, and leaves the process's listeners as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextlib.contextmanager
def engine_listener(
    identifier: str, listener: Any, install: Callable[[], None], *, on: bool
) -> Iterator[None]:
    """``listener`` (for ``identifier`` events on every Engine) installed by ``install`` if ``on``, else
    not listening, until the block ends; then as it was before."""
    had = event.contains(Engine, identifier, listener)
    if had:
        event.remove(Engine, identifier, listener)
    if on:
        install()
    try:
        yield
    finally:
        if event.contains(Engine, identifier, listener):
            event.remove(Engine, identifier, listener)
        if had:
            install()
