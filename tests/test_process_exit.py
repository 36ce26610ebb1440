"""A process that calls ``datalake.process_exit.freeze_at_exit`` (every Airflow process of the project,
through ``config/airflow_local_settings.py``) skips Python's last walk over its objects, and otherwise
exits as it would have: every exit handler runs, an unclosed file is flushed, its exit code is kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, gc, sys
out = open(sys.argv[1], "w")  # never closed: written out at exit
# registered first, so it runs last of all the exit handlers
atexit.register(lambda: out.write(f"frozen at the end: {gc.get_freeze_count() > 0}\\n"))
if sys.argv[2] == "freeze":
    from datalake.process_exit import freeze_at_exit
    freeze_at_exit()
atexit.register(lambda: out.write("a later handler ran\\n"))
sys.exit(3)
"""


@pytest.mark.parametrize(("mode", "frozen"), [("freeze", True), ("as-is", False)])
def test_a_process_that_freezes_at_exit_still_runs_its_handlers_flushes_and_keeps_its_code(
    tmp_path: Path, mode: str, frozen: bool
) -> None:
    out = tmp_path / "exit.txt"
    ended = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), mode],
        env={"PYTHONPATH": str(ROOT / "plugins")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ended.returncode == 3, ended.stderr
    assert out.read_text().splitlines() == ["a later handler ran", f"frozen at the end: {frozen}"]
