"""The stack's ``airflow`` command starts a crashed component again, and stops it when it is stopped.

A stand-in for the real ``airflow`` (a script that records each start and exits as told) runs under the
shim the stack writes, as ``airflow standalone`` would start it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack import restarting
from devstack.airflow import ROOT
from devstack.processes import group_alive, stop_group

FAKE_AIRFLOW = """#!{python}
import sys, time
from pathlib import Path
starts = Path({starts!r})
n = len(starts.read_text().splitlines()) if starts.exists() else 0
with starts.open("a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
exits = {exits!r}
if n < len(exits):
    sys.exit(exits[n])
time.sleep(60)
"""


def _shim(tmp_path: Path, exits: list[int]) -> tuple[Path, Path]:
    starts = tmp_path / "starts.txt"
    real = tmp_path / "real-airflow"
    real.write_text(FAKE_AIRFLOW.format(python=sys.executable, starts=str(starts), exits=exits))
    real.chmod(0o755)
    shim = tmp_path / "airflow"
    shim.write_text(restarting.shim_source(real, ROOT))
    shim.chmod(0o755)
    return shim, starts


def _started(starts: Path, n: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = starts.read_text().splitlines() if starts.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{n} starts expected, saw {starts.read_text() if starts.exists() else 'none'}")


def test_a_component_that_crashes_is_started_again_and_stops_with_its_supervisor(tmp_path):
    shim, starts = _shim(tmp_path, exits=[1, 3])  # crashes twice, then runs
    proc = subprocess.Popen(
        [str(shim), "scheduler"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert _started(starts, 3) == ["scheduler"] * 3
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        stop_group(proc.pid, grace=5)
    assert proc.returncode == 128 + signal.SIGTERM  # the component's own end, passed on
    assert "airflow scheduler exited with 1: starting it again (1 of 3)" in out
    assert "airflow scheduler exited with 3: starting it again (2 of 3)" in out
    assert len(starts.read_text().splitlines()) == 3  # stopping is not crashing: no fourth start
    assert not group_alive(proc.pid)


def test_a_component_that_keeps_crashing_is_given_up_after_the_restart_limit(tmp_path):
    shim, starts = _shim(tmp_path, exits=[2] * (restarting.MAX_RESTARTS + 1))
    done = subprocess.run([str(shim), "triggerer"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert len(starts.read_text().splitlines()) == restarting.MAX_RESTARTS + 1
    assert "airflow triggerer exited with 2 again: not restarted" in done.stdout


@pytest.mark.parametrize("args", [["version"], ["db", "migrate"]])
def test_any_other_command_runs_once_as_it_is(tmp_path, args):
    shim, starts = _shim(tmp_path, exits=[4])
    done = subprocess.run([str(shim), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 4
    assert starts.read_text().splitlines() == [" ".join(args)]
    assert "starting it again" not in done.stdout


def test_the_stack_puts_the_restarting_command_first_on_standalones_path(tmp_path):
    from devstack.airflow import airflow_environment

    env = airflow_environment(tmp_path, 8080)
    assert env["PATH"].split(os.pathsep)[:2] == [str(tmp_path / "bin"), str(Path(sys.executable).parent)]
