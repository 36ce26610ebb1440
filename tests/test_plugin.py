"""Airflow finds the Reports plugin through the package's entry point, and loads the package only once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({
    "plugins": [[p.name, type(p.source).__name__] for p in plugins],
    "errors": errors,
    "top_level": sorted(m for m in sys.modules if m in {"config", "tasks", "web", "store", "alerts", "hook"}),
}))
"""


def test_the_reports_plugin_comes_from_the_entry_point_and_the_plugins_folder_adds_no_module_copies(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["plugins"] == [["datalake_reports", "EntryPointSource"]]
    # Airflow's plugin loader runs every .py file of the plugins folder as a module named after the
    # file; plugins/.airflowignore keeps the package's files out of it
    assert found["top_level"] == []
