"""The embedded stack's ``airflow`` command: a component that crashes is started again.

``airflow standalone`` starts the scheduler, dag-processor, triggerer and api-server as ``airflow
<component>`` processes and never starts one again: on SQLite, a scheduler whose write waited out the
lock (``database is locked``) exits, and every run after it stays queued. Deployed, each component is a
container or a service that its supervisor restarts (``restart: always`` in ``docker-compose.yaml``).
The stack puts this command first on standalone's ``PATH`` (``devstack.airflow``), so each component
runs under a small supervisor that does the same: when the component exits on its own with a failure,
it says so in the log and starts it again, at most :data:`MAX_RESTARTS` times; a restarted scheduler
adopts or resets the tasks of the one that died. Any other ``airflow`` command runs as it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

COMPONENTS = {"scheduler", "dag-processor", "triggerer", "api-server"}
MAX_RESTARTS = 3
PAUSE_S = 1.0  # before a restart: lets the dead process's sockets and locks go


def shim_source(real_airflow: Path, root: Path) -> str:
    """The ``airflow`` script the stack writes for standalone: this module's :func:`main`."""
    return (
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from devstack.restarting import main\n"
        f"sys.exit(main({str(real_airflow)!r}, sys.argv[1:]))\n"
    )


def main(real_airflow: str, args: list[str]) -> int:
    if not args or args[0] not in COMPONENTS:
        os.execv(real_airflow, [real_airflow, *args])  # noqa: S606 (the venv's own airflow)
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    for restart in range(MAX_RESTARTS + 1):
        child = subprocess.Popen([real_airflow, *args])
        code = child.wait()
        code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it
        if stopping or code == 0:
            return code
        if restart == MAX_RESTARTS:
            print(f"airflow {args[0]} exited with {code} again: not restarted", flush=True)
            return code
        print(
            f"airflow {args[0]} exited with {code}: starting it again "
            f"({restart + 1} of {MAX_RESTARTS}), as a deployment's supervisor would",
            flush=True,
        )
        time.sleep(PAUSE_S)
    return 1
