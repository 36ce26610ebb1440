"""An Airflow process that ends, ends at once: it skips Python's last garbage collection.

When a Python process exits, the interpreter runs a full garbage collection that walks every object
the process still holds. An Airflow api-server holds about 600,000 once the execution API has built
its versioned routes, and the scheduler, the triggerer and the ``airflow`` CLI commands hold as many
objects of the same kind: each spends seconds of CPU on that walk after its work is done (2.5 s for an
api-server on an idle machine, 4.5 s while the rest of a stack stops beside it), only to hand memory
back that the operating system takes back anyway.

:func:`freeze_at_exit` moves every object into the collector's permanent generation at exit, which
the last collections do not walk. It runs after every exit handler registered later (atexit runs
them last first), that is after Airflow's own, and before those registered earlier (logging's
``shutdown`` among them): handlers still run, files are still flushed and closed, and the exit
code stays the process's. Objects whose only owner is a reference cycle are not finalized then,
which Python never promises at exit.
"""

from __future__ import annotations

import atexit
import gc


def freeze_at_exit() -> None:
    """Skip the interpreter's last walk over this process's objects when it exits."""
    atexit.register(gc.freeze)
