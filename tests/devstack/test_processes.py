"""Stopping the stack's process groups: all of them at once, each killed if it outlives its grace."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from devstack.processes import group_alive, spawn, stop_groups

# A child that, on SIGTERM, writes when it got it (CLOCK_MONOTONIC is one clock for every process)
# and then exits, or ignores SIGTERM and has to be killed.
CHILD = """
import signal, sys, time
marker, obey = sys.argv[1], sys.argv[2] == "obey"
def on_term(*_):
    with open(marker, "w") as f:
        f.write(repr(time.monotonic()))
    if obey:
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(marker + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""


def _child(tmp_path: Path, name: str, behaviour: str) -> tuple[int, Path]:
    marker = tmp_path / name
    proc = spawn([sys.executable, "-c", CHILD, str(marker), behaviour], log_path=tmp_path / f"{name}.log")
    deadline = time.monotonic() + 30
    while not marker.with_suffix(".ready").exists():
        assert time.monotonic() < deadline, f"{name} did not start; see {tmp_path / f'{name}.log'}"
        time.sleep(0.05)
    return proc.pid, marker


def test_every_group_is_told_to_stop_at_once_and_one_that_ignores_it_is_killed(tmp_path):
    stubborn, stubborn_marker = _child(tmp_path, "stubborn", "ignore")
    polite, polite_marker = _child(tmp_path, "polite", "obey")
    grace = 3.0
    try:
        started = time.monotonic()
        stop_groups([stubborn, polite], grace=grace)  # the stubborn one first
    finally:
        stop_groups([stubborn, polite], grace=0)
    assert not group_alive(stubborn)
    assert not group_alive(polite)
    assert stubborn_marker.exists()  # it was told, it did not listen, it is gone all the same
    # one after the other, the polite group would hear of it only once the stubborn one's grace is over
    assert float(polite_marker.read_text()) - started < grace / 2


def test_a_group_whose_processes_have_all_exited_is_not_alive_before_their_parent_collects_them(tmp_path):
    # the stack's orphans are collected by init, late in some containers: here the test is the parent
    # and does not collect its child until the end
    proc = spawn([sys.executable, "-c", "pass"], log_path=tmp_path / "exited.log")
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, and left uncollected
    try:
        assert Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
        assert not group_alive(proc.pid)
    finally:
        proc.wait()
    running = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "runs.log")
    try:
        assert group_alive(running.pid)
    finally:
        stop_groups([running.pid], grace=5)
    assert not group_alive(running.pid)
