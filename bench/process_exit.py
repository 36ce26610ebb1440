"""Time an Airflow process takes to exit once its work is done, with and without
``datalake.process_exit.freeze_at_exit`` (which the project's Airflow local settings call).

    .venv/bin/python -m bench.process_exit [--runs 5]

Each run is a fresh process that holds what an api-server holds: it builds the execution API's
versioned routes with one request to Airflow's in-process execution API, notes the time (the
monotonic clock is one for every process), and returns from its script; the figure is the time from
that note until its parent sees it gone: the interpreter's exit handlers and its last garbage
collections. The figures are the median, min and max of the runs; runs with and without alternate.

Target: an exit in at most a quarter of the time it takes without.
Writes bench/results/process_exit.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._figures import report, spread

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1 / 4
MODES = ("as-is", "freeze")

PROBE = """
import gc, sys, time
import httpx
from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
if sys.argv[1] == "freeze":
    from datalake.process_exit import freeze_at_exit
    freeze_at_exit()
api = InProcessExecutionAPI()
client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid./")
assert client.get("health").status_code == 200
print("held", len(gc.get_objects()), time.monotonic(), flush=True)
"""


def one_run(mode: str) -> tuple[float, int]:
    """The exit's milliseconds and the objects the process held."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, AIRFLOW_HOME=home, PYTHONPATH=str(ROOT / "plugins"))
        proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        line = b""
        for line in proc.stdout or ():  # Airflow may log to stdout before the probe's line
            if line.startswith(b"held "):
                break
        returncode = proc.wait(timeout=300)
        ended = time.monotonic()
    if returncode != 0 or len(line.split()) != 3:
        raise RuntimeError(f"the {mode} probe failed with {returncode}")
    _, objects, noted = line.split()
    return (ended - float(noted)) * 1000, int(objects)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    found: dict[str, list[float]] = {mode: [] for mode in MODES}
    objects = 0
    for _ in range(args.runs):
        for mode in MODES:
            milliseconds, objects = one_run(mode)
            found[mode].append(milliseconds)
    result: dict[str, object] = {"runs": args.runs, "objects_held": objects}
    for mode, values in found.items():
        result[mode] = spread(values, digits=0)
    ratio = statistics.median(found["freeze"]) / statistics.median(found["as-is"])
    result |= {"ratio": round(ratio, 3), "target_ratio": TARGET_RATIO, "met": ratio <= TARGET_RATIO}
    return report("process_exit", result)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
