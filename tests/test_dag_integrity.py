"""Every DAG file imports cleanly and every DAG meets the package's standard (owner, tags, docs,
retries, failure alerts, Airflow 3 spellings)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
AIRFLOW2_SPELLINGS = re.compile(
    r"from airflow\.(decorators|models\.dag|models import DAG|operators\.python|datasets)|"
    r"schedule_interval|\bDataset\b|\bdays_ago\b"
)


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    ours = (str(ROOT / "dags"), str(ROOT / "plugins"))
    bag.caught_warnings = [w for w in caught if str(w.filename).startswith(ours)]
    return bag


def test_every_dag_file_imports_without_errors(dagbag):
    assert DAG_FILES, "dags/ holds no DAG file"
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_dag_files_import_without_warnings(dagbag):
    messages = [f"{w.filename}:{w.lineno}: {w.message}" for w in dagbag.caught_warnings]
    assert messages == []


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
            if (task.retries or 0) < 2:
                problems.append(f"{where}: retries={task.retries}")
            if not task.on_failure_callback:
                problems.append(f"{where}: no failure callback")
    assert problems == []


def test_dag_ids_are_unique_across_files(dagbag):
    files = {}
    for dag_id, dag in dagbag.dags.items():
        files.setdefault(dag_id, set()).add(dag.fileloc)
    assert {d: f for d, f in files.items() if len(f) > 1} == {}
