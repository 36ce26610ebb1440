"""The embedded stack's Airflow local settings: the project's own, and what SQLite needs under load.

Airflow imports one module of this name in each of its processes; the stack puts this folder first
on its ``PYTHONPATH`` (``devstack.airflow``). It takes over everything the project's module
(``config/airflow_local_settings.py``, what the Docker image installs) defines, then adds what the
stack's SQLite metadata database needs: savepoints that nest (``devstack.sqlite_savepoints``), and lock
waits that cannot stall the api-server's event loop (``devstack.sqlite_event_loop``).
"""

import runpy
from pathlib import Path

from devstack.sqlite_event_loop import fail_fast_on_event_loops
from devstack.sqlite_savepoints import nest_savepoints

_PROJECT = Path(__file__).resolve().parents[2] / "config" / "airflow_local_settings.py"

globals().update({k: v for k, v in runpy.run_path(str(_PROJECT)).items() if not k.startswith("__")})
nest_savepoints()
fail_fast_on_event_loops()
