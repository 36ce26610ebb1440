"""DAG parse time of each project DAG file, against a plain twin of the same DAGs and a trivial DAG.

    .venv/bin/python -m bench.dag_parse [--runs 15]

For each file of ``dags/`` the benchmark writes a **twin**: a plain DAG file with no project import that
builds the same DAGs in the same shape (``@dag``, as every project DAG is built) with the same schedules
(cron timetables, asset expressions), the same tasks of the same kinds (``@task``, ``@task.sensor``,
mapped tasks, the provider's ``AthenaOperator``, and where the project has an operator of its own a
plain subclass of the same base: ``BaseOperator``, ``AthenaOperator``), the same task groups, outlets
and dependencies. The ratio of a file to its twin is this project's own top-level cost (configuration,
helpers, the project's modules); the ratio to a trivial one-task DAG file is reported too.

Each measurement parses one file with Airflow's DagBag in a fresh interpreter, after the imports the
dag-processor makes before it forks a parser: ``datalake.parsing.pre_import()`` (what the deployment's
``config/airflow_local_settings.py`` does) and Airflow's own pre-import of the ``airflow.*`` modules the
file names. Bytecode is cached as a dag-processor would cache it (one warm-up parse per file first). The
runs go round-robin over the files, so a machine whose load drifts weighs on every file alike. Prints
the median of the runs with their spread, for the wall clock and the CPU time of the parse (which a
loaded machine blurs less). Targets: at most 1.2x the twin; reported against the trivial file as well.
Writes bench/results/dag_parse.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET = 1.2

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
from datalake.parsing import pre_import
pre_import()
_pre_import_airflow_modules(sys.argv[1], structlog.get_logger())
t0, c0 = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
print(elapsed, cpu, len(bag.dags), sum(len(d.tasks) for d in bag.dags.values()))
"""

# -- the twin ---------------------------------------------------------------------------------------

TWIN_HEADER = '''"""A plain twin of {name}: the same DAGs, tasks, groups and edges, no project import."""
from datetime import datetime, timedelta, timezone

from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import (
    Asset, AssetOrTimeSchedule, AssetWatcher, AsyncCallback, BaseOperator, CronDataIntervalTimetable,
    DeadlineAlert, DeadlineReference, Param, TaskGroup, dag, task,
)


class ProjectOperator(BaseOperator):
    def execute(self, context):
        return None


class ProjectAthenaOperator(AthenaOperator):
    pass


def on_failure(context):
    return None


async def on_late(context=None, **kwargs):
    return None


START = datetime(2000, 1, 1, tzinfo=timezone.utc)
'''


def _asset_expression(condition: Any) -> str:
    """Python source of an asset schedule (an Asset, or an | / & expression of them)."""
    from airflow.sdk import Asset, AssetAll, AssetAny

    if isinstance(condition, Asset):
        trigger = "MessageQueueTrigger(scheme='sqs', **{!r})"
        watchers = ", ".join(
            f"AssetWatcher(name={w.name!r}, trigger={trigger.format(w.trigger.kwargs)})"
            for w in condition.watchers
        )
        return f"Asset(name={condition.name!r}, uri={condition.uri!r}, watchers=[{watchers}])"
    joiner = " | " if isinstance(condition, AssetAny) else " & " if isinstance(condition, AssetAll) else None
    if joiner is None:
        raise TypeError(f"no twin for the schedule {condition!r}")
    return "(" + joiner.join(_asset_expression(c) for c in condition.objects) + ")"


def _schedule(dag: Any) -> str:
    timetable = type(dag.timetable).__name__
    if timetable == "NullTimetable":
        return "None"
    if timetable == "CronDataIntervalTimetable":
        return f"CronDataIntervalTimetable({dag.timetable.expression!r}, timezone='UTC')"
    if timetable == "AssetTriggeredTimetable":
        return _asset_expression(dag.timetable.asset_condition)
    if timetable == "AssetOrTimeSchedule":
        cron = f"CronDataIntervalTimetable({dag.timetable.timetable.expression!r}, timezone='UTC')"
        assets = _asset_expression(dag.timetable.asset_condition)
        return f"AssetOrTimeSchedule(timetable={cron}, assets={assets})"
    raise TypeError(f"{dag.dag_id}: no twin for the timetable {timetable}")


def _kind(task: Any) -> str:
    """What the twin builds for ``task``: the same operator family."""
    from airflow.providers.amazon.aws.operators.athena import AthenaOperator

    name = type(task).__name__
    if name == "MappedOperator":
        return "mapped"
    if name == "DecoratedSensorOperator":
        return "sensor"
    if name.startswith("_") and name.endswith("DecoratedOperator"):
        return "task"
    if type(task) is AthenaOperator:
        return "athena"
    if isinstance(task, AthenaOperator):  # the project's own subclass: a plain subclass in the twin
        return "athena subclass"
    return "operator"


def _outlets(task: Any) -> str:
    outlets = [o for o in getattr(task, "outlets", None) or [] if type(o).__name__ == "Asset"]
    return f", outlets=[{', '.join(_asset_expression(o) for o in outlets)}]" if outlets else ""


def _task_arguments(task: Any) -> str:
    """The task's own arguments that Airflow handles at parse time: doc, time limit, retries, limits."""
    parts = [f"task_id={task.task_id.rsplit('.', 1)[-1]!r}"]
    if task.doc_md:
        parts.append(f"doc_md={task.doc_md!r}")
    if task.execution_timeout is not None:
        parts.append(f"execution_timeout=timedelta(seconds={task.execution_timeout.total_seconds()})")
    parts.append(f"retries={task.retries}")
    if task.max_active_tis_per_dag is not None:
        parts.append(f"max_active_tis_per_dag={task.max_active_tis_per_dag}")
    return ", ".join(parts) + _outlets(task)


def _callable_parameters(task: Any) -> str:
    """The decorated function's parameters (Airflow inspects them for context injection)."""
    import inspect

    function = getattr(task, "python_callable", None) or getattr(
        getattr(task, "partial_kwargs", {}), "get", lambda *_: None
    )("python_callable")
    if function is None:
        return ""
    return ", ".join(
        f"{name}=None"  # the values come through the edges the twin states itself
        for name, p in inspect.signature(function).parameters.items()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.KEYWORD_ONLY)
    )


@functools.cache
def _sql_files(folder: str) -> dict[str, str]:
    """``{text: path relative to folder}`` of the ``.sql`` files under ``folder``."""
    return {path.read_text(): path.relative_to(folder).as_posix() for path in Path(folder).rglob("*.sql")}


def _query_source(task: Any) -> str:
    """What the project passed as the Athena task's ``query``: the parse has already replaced a ``.sql``
    path by the file's text, so the file (under the DAG's template search path) is found by that text."""
    for folder in task.dag.template_searchpath or []:
        if task.query in _sql_files(folder):
            return _sql_files(folder)[task.query]
    return task.query


def _task_source(task: Any, var: str, indent: str) -> list[str]:
    """Source lines building one task as ``var``."""
    arguments = _task_arguments(task)
    kind = _kind(task)
    if kind.startswith("athena"):
        operator = "AthenaOperator" if kind == "athena" else "ProjectAthenaOperator"
        return [
            # the same query, from the same .sql file: its path is read at parse time, as SQL kept in
            # files costs any DAG that keeps it there
            f"{indent}{var} = {operator}({arguments}, query={_query_source(task)!r}, database='db', "
            f"output_location='s3://bucket/results/', workgroup='primary', sleep_time=2, "
            f"params={dict(task.params.dump())!r})"
        ]
    if kind == "operator":
        return [f"{indent}{var} = ProjectOperator({arguments})"]
    if kind == "sensor":
        decorator = f"@task.sensor({arguments}, mode='reschedule', poke_interval=600, timeout=3600)"
    else:
        decorator = f"@task({arguments})"
    call = f"{var}_fn()" if kind != "mapped" else f"{var}_fn.expand(name={['x'] * 3!r})"
    parameters = _callable_parameters(task)
    if kind == "mapped" and "name=None" not in parameters.split(", "):
        parameters = ", ".join(p for p in ("name=None", parameters) if p)  # what the twin maps over
    role = ".as_setup()" if task.is_setup else ".as_teardown()" if task.is_teardown else ""
    return [
        f"{indent}{decorator}",
        f"{indent}def {var}_fn({parameters}):",
        f"{indent}    return None",
        f"{indent}{var} = {call}{role}",
    ]


def _value(value: Any) -> str:
    """Python source of a plain ``default_args`` value; a callback becomes the twin's own function."""
    if isinstance(value, list | tuple) and value and callable(value[0]):
        return "[on_failure]"
    if callable(value):
        return "on_failure"
    return f"timedelta(seconds={value.total_seconds()})" if hasattr(value, "total_seconds") else repr(value)


def _dag_arguments(dag: Any) -> str:
    """The DAG's own attributes, plainly: default_args, callbacks, params, deadline, limits, templates."""
    default_args = ", ".join(f"{k!r}: {_value(v)}" for k, v in sorted(dag.default_args.items()))
    params = ", ".join(f"{k!r}: Param({v!r})" for k, v in dag.params.dump().items())
    parts = [
        f"dag_id={dag.dag_id!r}",
        f"schedule={_schedule(dag)}",
        "start_date=START",
        "catchup=False",
        f"description={dag.description!r}",
        f"tags={sorted(dag.tags)!r}",
        f"doc_md={(dag.doc_md or '')!r}",
        f"default_args={{{default_args}}}",
        f"params={{{params}}}",
        f"max_active_runs={dag.max_active_runs}",
        f"template_searchpath={dag.template_searchpath!r}",
    ]
    if dag.on_failure_callback:
        parts.append("on_failure_callback=[on_failure]")
    if dag.deadline:
        parts.append(
            "deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, "
            "interval=timedelta(minutes=1), callback=AsyncCallback(on_late))"
        )
    return ", ".join(parts)


def twin_source(name: str, dags: list[Any]) -> str:
    """A plain DAG file that builds ``dags`` again without the project."""
    lines = [TWIN_HEADER.format(name=name)]
    for n, dag in enumerate(dags):
        lines.append(f"@dag({_dag_arguments(dag)})")  # the project's one DAG shape (datalake.dag_defaults)
        lines.append(f"def twin_{n}():")
        names: dict[str, str] = {}
        by_group: dict[str | None, list[Any]] = {}
        for task in dag.tasks:
            group = task.task_id.rsplit(".", 1)[0] if "." in task.task_id else None
            by_group.setdefault(group, []).append(task)
        for group, tasks in by_group.items():
            indent = "    "
            if group is not None:
                lines.append(f"    with TaskGroup(group_id={group!r}):")
                indent = "        "
            for task in tasks:
                var = names[task.task_id] = f"t{n}_{len(names)}"
                lines.extend(_task_source(task, var, indent))
        for task in dag.tasks:
            for downstream in sorted(task.downstream_task_ids):
                lines.append(f"    {names[task.task_id]} >> {names[downstream]}")
        lines.append(f"twin_{n}()")
    return "\n".join(lines) + "\n"


def write_twins(env: dict[str, str], directory: Path) -> dict[str, Path]:
    """``{project file name: its twin}``, each written from the DAGs the project file builds."""
    script = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from bench.dag_parse import twin_source\n"
        "for path in sys.argv[1:]:\n"
        "    bag = DagBag(dag_folder=path)\n"
        "    assert not bag.import_errors, bag.import_errors\n"
        "    dags = sorted(bag.dags.values(), key=lambda d: d.dag_id)\n"
        "    print(json.dumps([path, twin_source(path.rsplit('/', 1)[-1], dags)]))\n"
    )
    files = sorted((ROOT / "dags").glob("*.py"))
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=ROOT,
    )
    twins = {}
    for line in out.stdout.splitlines():
        if line.startswith("["):
            path, source = json.loads(line)
            twin = directory / f"twin_{Path(path).name}"
            twin.write_text(source)
            twins[Path(path).name] = twin
    return twins


# -- measuring --------------------------------------------------------------------------------------


def parse_seconds(path: Path, env: dict[str, str]) -> tuple[float, float, int, int]:
    """Wall-clock and CPU seconds of one parse of ``path`` in a fresh interpreter, DAGs and tasks."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu, dags, tasks = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu), int(dags), int(tasks)


def _environment(home: str) -> dict[str, str]:
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
    return env


def _stats(runs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dag-parse-") as home:
        env = _environment(home)
        trivial = Path(home) / "trivial_dag.py"
        trivial.write_text(TRIVIAL_DAG)
        twins = write_twins(env, Path(home))
        files = [trivial, *(ROOT / "dags" / name for name in twins), *twins.values()]
        shape: dict[str, tuple[int, int]] = {}
        for path in files:  # warm-up: bytecode written, file cache warm
            shape[path.name] = parse_seconds(path, env)[2:]
        wall: dict[str, list[float]] = {path.name: [] for path in files}
        cpu: dict[str, list[float]] = {path.name: [] for path in files}
        for _ in range(args.runs):
            for path in files:
                wall_s, cpu_s, _, _ = parse_seconds(path, env)
                wall[path.name].append(wall_s)
                cpu[path.name].append(cpu_s)

    report: dict[str, Any] = {"runs": args.runs, "target_ratio_to_twin": TARGET, "files": {}}
    print(f"{'file':26s}dags tasks  wall s (min-max)        x twin x trivial   cpu s  x twin x trivial")
    for name in twins:
        twin = f"twin_{name}"
        for shown in (name, twin):
            w, c = _stats(wall[shown]), _stats(cpu[shown])
            ratios = {
                "wall_to_twin": w["median"] / statistics.median(wall[twin]),
                "wall_to_trivial": w["median"] / statistics.median(wall[trivial.name]),
                "cpu_to_twin": c["median"] / statistics.median(cpu[twin]),
                "cpu_to_trivial": c["median"] / statistics.median(cpu[trivial.name]),
            }
            report["files"][shown] = {"dags_tasks": shape[shown], "wall": w, "cpu": c, **ratios}
            over = shown == name and max(ratios["wall_to_twin"], ratios["cpu_to_twin"]) > TARGET
            dags, tasks = shape[shown]
            print(
                f"{shown:26s}{dags:4d}{tasks:6d}  {w['median']:.3f} ({w['min']:.3f}-{w['max']:.3f})"
                f"  {ratios['wall_to_twin']:6.2f} {ratios['wall_to_trivial']:9.2f}   {c['median']:.3f}"
                f" {ratios['cpu_to_twin']:6.2f} {ratios['cpu_to_trivial']:9.2f}"
                + (f"  (over the {TARGET}x target)" if over else "")
            )
    t_w, t_c = _stats(wall[trivial.name]), _stats(cpu[trivial.name])
    report["files"][trivial.name] = {"dags_tasks": shape[trivial.name], "wall": t_w, "cpu": t_c}
    print(f"{trivial.name:26s}{1:4d}{1:6d}  {t_w['median']:.3f} ({t_w['min']:.3f}-{t_w['max']:.3f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dag_parse.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
