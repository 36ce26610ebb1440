"""Every DAG file imports cleanly and every DAG meets the package's standard (owner, tags, docs,
retries, failure alerts, Airflow 3 spellings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
# Spelled in pieces, so that a plain grep of the repository for the old names finds real uses only.
AIRFLOW2_SPELLINGS = re.compile(
    r"from airflow\.(decorators|models\.dag|models import DAG|operators\.python|datasets)|"
    r"schedule"
    r"_interval|\bData"
    r"set\b|\bdays"
    r"_ago\b"
)
# What only a running task needs. The dag-processor parses every DAG file over and over: a module
# imported at parse time is paid for at every parse (bench.dag_parse measures it).
TASK_ONLY_MODULES = (
    "pyarrow",
    "datalake.inventory.manifest",
    "datalake.inventory.partitions",
    "datalake.inventory.repair",
    "datalake.inventory.validate",
    "datalake.reports.plan",
    "datalake.reports.render",
    "datalake.reports.store",
    "datalake.strava.client",
    "datalake.strava.extract",
    "datalake.strava.hook",
    "datalake.strava.schema",
    "datalake.strava.store",
    "datalake.strava.tokens",
)


def test_every_dag_file_imports_without_errors(dagbag):
    assert DAG_FILES, "dags/ holds no DAG file"
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_dag_files_import_without_warnings(dagbag):
    messages = [f"{w.filename}:{w.lineno}: {w.message}" for w in dagbag.caught_warnings]
    assert messages == []


# Modules whose import the dag-processor pays once, before it forks a parser (datalake.parsing): a parse
# of the DAG files that still imports one of these has found one the pre-import list misses.
PRE_IMPORTED_FAMILIES = ("airflow", "boto3", "botocore", "aiobotocore", "s3transfer", "jinja2", "datalake")


def _parse_in_a_fresh_interpreter() -> tuple[set[str], set[str]]:
    """``(modules loaded by the parse, modules loaded before it)`` of the DAG files, parsed after the
    dag-processor's pre-imports (``datalake.parsing`` and Airflow's own of each file's ``airflow.*``
    imports), in an interpreter that has imported nothing of the tests."""
    script = (
        "import pathlib, sys, structlog\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from airflow.dag_processing.processor import _pre_import_airflow_modules\n"
        "from datalake.parsing import pre_import\n"
        "pre_import()\n"
        "for path in pathlib.Path(sys.argv[1]).glob('*.py'):\n"
        "    _pre_import_airflow_modules(str(path), structlog.get_logger())\n"
        "before = set(sys.modules)\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(*sorted(before))\n"
        "print(*sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "dags")],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, parsed = done.stdout.splitlines()[-2:]
    return set(parsed.split()), set(before.split())


@pytest.fixture(scope="module")
def parse_imports() -> tuple[set[str], set[str]]:
    return _parse_in_a_fresh_interpreter()


def test_parsing_the_dag_files_imports_no_module_only_tasks_need(parse_imports):
    parsed, before = parse_imports
    assert [m for m in TASK_ONLY_MODULES if m in parsed | before] == []


def test_the_pre_import_list_covers_what_parsing_the_dag_files_imports(parse_imports):
    parsed, _ = parse_imports
    missed = sorted(m for m in parsed if m.split(".")[0] in PRE_IMPORTED_FAMILIES)
    assert missed == [], f"add what imports these to datalake.parsing.PRE_IMPORTS: {missed}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_use_airflow_3_spellings_only(path):
    hits = [line for line in path.read_text().splitlines() if AIRFLOW2_SPELLINGS.search(line)]
    assert hits == []


def test_project_code_uses_airflow_3_spellings_only():
    offenders = []
    for path in [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if AIRFLOW2_SPELLINGS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


# Tasks whose failure a retry cannot fix, so they fail at once: the sensor carries its own deadline, and
# a corrupt drop stays corrupt.
NO_RETRY_TASKS = {"wait_for_drop"}
TASK_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)*$")


def test_every_dag_has_an_owner_tags_docs_retries_and_failure_alerts(dagbag):
    from datalake.dag_defaults import TAGS

    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        if not (dag.doc_md or "").strip():
            problems.append(f"{dag_id}: no doc_md")
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if set(dag.tags) - TAGS:
            problems.append(f"{dag_id}: tags outside the agreed list: {sorted(set(dag.tags) - TAGS)}")
        if not dag.on_failure_callback:
            problems.append(f"{dag_id}: no DAG-level failure callback")
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if task.owner in (None, "", "airflow"):
                problems.append(f"{where}: owner is {task.owner!r}")
            if (task.retries or 0) < 2 and task.task_id.rsplit(".", 1)[-1] not in NO_RETRY_TASKS:
                problems.append(f"{where}: retries={task.retries}")
            if not task.on_failure_callback and not getattr(task, "alerted_by", None):
                problems.append(f"{where}: no failure callback")
    assert problems == []


def test_dag_ids_are_unique_across_files(dagbag):
    files = {}
    for dag_id, dag in dagbag.dags.items():
        files.setdefault(dag_id, set()).add(dag.fileloc)
    assert {d: f for d, f in files.items() if len(f) > 1} == {}


def test_every_task_has_a_short_doc_and_an_id_that_reads_as_a_step(dagbag):
    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            doc = task.doc_md or task.doc or task.doc_rst or task.doc_yaml or task.doc_json
            if not (doc or "").strip():
                problems.append(f"{where}: no doc")
            if not TASK_ID.match(task.task_id):
                problems.append(f"{where}: task id is not lower_snake_case words")
    assert problems == []


def test_every_task_has_a_time_limit(dagbag):
    """Every task talks to a remote service (S3, Glue, Athena, Strava): none may hang for ever."""
    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        for task in dag.tasks:
            if task.execution_timeout is None:
                problems.append(f"{dag_id}.{task.task_id}: no execution_timeout")
            if getattr(task, "timeout", 0) in (None, float("inf")) and "Sensor" in type(task).__name__:
                problems.append(f"{dag_id}.{task.task_id}: a sensor with no timeout")
    assert problems == []


def test_alerts_are_the_packages_own_at_both_levels_and_only_on_final_failure(dagbag):
    from datalake.alerts import DagFailureAlert, TaskFailureAlert

    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        dag_callbacks = dag.on_failure_callback or []
        dag_callbacks = dag_callbacks if isinstance(dag_callbacks, list) else [dag_callbacks]
        if not any(isinstance(c, DagFailureAlert) for c in dag_callbacks):
            problems.append(f"{dag_id}: the DAG-level failure callback is not datalake.alerts")
        for task in dag.tasks:
            callbacks = task.on_failure_callback or []
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            alerts = sum(isinstance(c, TaskFailureAlert) for c in callbacks)
            reporter = getattr(task, "alerted_by", None)  # a task whose failure another one alerts for
            if reporter and (alerts or reporter not in dag.task_dict):
                problems.append(
                    f"{dag_id}.{task.task_id}: alerted_by {reporter!r}, alerting itself too or no such task"
                )
            elif not reporter and alerts != 1:
                problems.append(f"{dag_id}.{task.task_id}: not exactly one task-level failure alert")
            retry = task.on_retry_callback or []
            retry = retry if isinstance(retry, list) else [retry]
            if any(isinstance(c, TaskFailureAlert | DagFailureAlert) for c in retry):
                problems.append(f"{dag_id}.{task.task_id}: alerts on every retry")
    assert problems == []


def test_late_summaries_alert_through_a_deadline(dagbag):
    from airflow.sdk import AsyncCallback, DeadlineAlert

    from datalake.alerts import deadline_missed_alert
    from datalake.config import get_config

    dag = dagbag.dags["daily_summaries"]
    alerts = [d for d in dag.deadline or [] if isinstance(d, DeadlineAlert)]
    assert len(alerts) == 1
    assert isinstance(alerts[0].callback, AsyncCallback)
    assert alerts[0].callback.path == "datalake.alerts.deadline_missed_alert"
    assert deadline_missed_alert.__module__ == "datalake.alerts"
    assert alerts[0].interval.total_seconds() == get_config().alerts.summary_deadline_minutes * 60


def test_no_task_defers(dagbag):
    """Airflow 3.3 can fail a deferred task whose trigger fires at once (apache/airflow#72716): a quick
    Athena query is one. Every Athena task polls from its worker instead."""
    deferring = [
        f"{dag_id}.{task.task_id}"
        for dag_id, dag in sorted(dagbag.dags.items())
        for task in dag.tasks
        if getattr(task, "deferrable", False) or getattr(task, "start_from_trigger", False)
    ]
    assert deferring == []
