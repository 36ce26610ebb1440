"""DAG parse time of each project DAG file, as a ratio to a trivial one-task DAG file.

    .venv/bin/python -m bench.dag_parse [--runs 5]

Each measurement parses one file with Airflow's DagBag in a fresh interpreter that has already imported
Airflow and, as the dag-processor does before it forks a parsing process, the ``airflow.*`` modules the
file itself imports (``parsing_pre_import_modules``). What the file then imports or computes is counted.
Bytecode is cached as a dag-processor would cache it (one warm-up parse per file first). The runs go
round-robin over the files, so a machine whose load drifts (a backfill next door) weighs on every file
alike. Prints the median of several runs per file with their spread and the ratio to the trivial file
(target: 1.5x or less), and the same for the CPU time of the parse, which a loaded machine blurs less
than the wall clock. Writes bench/results/dag_parse.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

TRIVIAL_DAG = '''
"""A trivial DAG: the yardstick."""
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False, tags=["x"])
def trivial():
    @task
    def one():
        return 1

    one()


trivial()
'''

MEASURE = """
import os, sys, time, warnings
warnings.simplefilter("ignore")
import structlog
from airflow.dag_processing.dagbag import DagBag
from airflow.dag_processing.processor import _pre_import_airflow_modules
import airflow.sdk
# As the dag-processor does before it forks the parsing process: the airflow modules the file imports.
_pre_import_airflow_modules(sys.argv[1], structlog.get_logger())
t0, c0 = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
print(elapsed, cpu)
"""


def parse_seconds(path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one parse of ``path`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    import os

    with tempfile.TemporaryDirectory(prefix="dag-parse-") as home:
        env = dict(os.environ)
        # A dag-processor caches bytecode like any Python process; a machine-wide
        # PYTHONDONTWRITEBYTECODE would make every parse compile the project's modules from source.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            }
        )
        trivial = Path(home) / "trivial_dag.py"
        trivial.write_text(TRIVIAL_DAG)
        files = [trivial, *sorted((ROOT / "dags").glob("*.py"))]
        for path in files:
            parse_seconds(path, env)  # warm-up: bytecode written, file cache warm
        times: dict[str, list[float]] = {path.name: [] for path in files}
        cpu: dict[str, list[float]] = {path.name: [] for path in files}
        for _ in range(args.runs):
            for path in files:
                wall_s, cpu_s = parse_seconds(path, env)
                times[path.name].append(wall_s)
                cpu[path.name].append(cpu_s)
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    cpu_medians = {name: statistics.median(runs) for name, runs in cpu.items()}
    base, cpu_base = medians["trivial_dag.py"], cpu_medians["trivial_dag.py"]
    report = {
        "runs": args.runs,
        "median_seconds": medians,
        "min_seconds": {name: min(runs) for name, runs in times.items()},
        "max_seconds": {name: max(runs) for name, runs in times.items()},
        "ratio_to_trivial": {},
        "cpu_median_seconds": cpu_medians,
        "cpu_ratio_to_trivial": {},
    }
    header = ("median s", 9), ("min s", 7), ("max s", 7), ("ratio", 6), ("cpu s", 7), ("ratio", 6)
    print(f"{'file':32s}", *(f"{title:>{width}s}" for title, width in header))
    for name, median in medians.items():
        ratio, cpu_ratio = median / base, cpu_medians[name] / cpu_base
        report["ratio_to_trivial"][name] = round(ratio, 2)
        report["cpu_ratio_to_trivial"][name] = round(cpu_ratio, 2)
        over = name != "trivial_dag.py" and max(ratio, cpu_ratio) > 1.5
        low, high = min(times[name]), max(times[name])
        print(
            f"{name:32s} {median:9.3f} {low:7.3f} {high:7.3f} {ratio:6.2f} {cpu_medians[name]:7.3f} "
            f"{cpu_ratio:6.2f}{'  (over the 1.5x target)' if over else ''}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dag_parse.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
