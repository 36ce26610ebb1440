"""Child processes of the embedded stack: started in their own process group, stopped as a group.

Killing only a parent (``airflow standalone``, say) leaves its scheduler, api-server and workers running
as orphans, so every service is started with ``start_new_session=True`` and stopped with ``killpg``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def spawn(args: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``args`` in a new session (its own process group), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def spawn_until_ready(
    args: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[subprocess.Popen, str]:
    """Start a service that prints ``ready <url>`` on stdout once it serves; return it and the URL."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    if proc.stdout is None:  # pragma: no cover - stdout=PIPE always gives one
        raise RuntimeError("no stdout pipe")
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffered = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.1)
        if readable:
            chunk = os.read(fd, 4096)
            buffered += chunk
            complete = buffered.decode(errors="replace").split("\n")[:-1]  # whole lines only
            for line in complete:
                if line.startswith("ready "):
                    proc.stdout.close()  # the service keeps running; later output goes nowhere
                    return proc, line.split(" ", 1)[1].strip()
            if not chunk and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    if proc.poll() is not None:
        raise RuntimeError(f"{' '.join(args[:3])} exited with {proc.returncode}; see {log_path}")
    stop_group(proc.pid)
    raise TimeoutError(f"{' '.join(args[:3])} did not become ready in {timeout:.0f}s; see {log_path}")


def announce_ready(url: str) -> None:
    """Tell the parent (see :func:`spawn_until_ready`) that the service serves at ``url``.

    The parent stops reading after this line, so stdout is then pointed at /dev/null: a later print
    must not kill the service with a broken pipe.
    """
    sys.stdout.write(f"ready {url}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


PROC = Path("/proc")


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. One that has exited and only waits for its parent to
    collect it (a zombie) runs nothing and holds nothing but its id: the orphans of a stopped group are
    collected by init, which in some containers comes seconds later."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """Whether every process of the group has exited, from ``/proc`` (without one, as on macOS: no)."""
    if not PROC.is_dir():
        return False
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # after the command's closing parenthesis: state, parent, process group, ...
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def stop_group(pgid: int, *, grace: float = 20) -> None:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    stop_groups([pgid], grace=grace)


def stop_groups(pgids: list[int], *, grace: float = 20) -> None:
    """:func:`stop_group` of every group at once: they wind down side by side, so stopping them all
    takes as long as the slowest, not the sum."""
    pgids = [p for p in pgids if p > 1 and p != os.getpgrp()]  # never our own group, never init
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (alive := _alive_after_reaping(pgids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    for _ in range(50):
        if not (alive := _alive_after_reaping(alive)):
            return
        time.sleep(0.1)


def _alive_after_reaping(pgids: list[int]) -> list[int]:
    for pgid in pgids:
        _reap(pgid)
    return [pgid for pgid in pgids if group_alive(pgid)]


def _reap(pgid: int) -> None:
    """Collect our own exited children of that group, so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(-pgid, os.WNOHANG)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
