"""The project's DAGs in tests: parsed as the dag-processor parses them, and run with ``dag.test()``."""

from __future__ import annotations

import importlib.util
import uuid
import warnings
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"


def parse_dags(file_name: str | None = None) -> Any:
    """A DagBag of ``dags/`` (or of one file of it), parsed now with the configuration active now.

    Its ``caught_warnings`` hold the warnings raised by the project's own files during the parse.
    """
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS / file_name if file_name else DAGS))
    ours = (str(DAGS), str(ROOT / "plugins"))
    bag.caught_warnings = [w for w in caught if str(w.filename).startswith(ours)]
    return bag


def parsed_dag(dag_id: str, file_name: str | None = None) -> Any:
    """One DAG, parsed now (with the configuration active now); the parse must be clean."""
    bag = parse_dags(file_name)
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]


def dag_file(file_name: str) -> ModuleType:
    """A file of ``dags/`` imported as a module of its own, for its factories (``inventory_dag``)."""
    path = DAGS / file_name
    spec = importlib.util.spec_from_file_location(f"dags_{path.stem}_{uuid.uuid4().hex[:6]}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """``dag.test()``: the DAG is written to the metadata DB (the ``airflow_db`` fixture) first, as the
    dag-processor would write it (``dag.test()`` only finds serialized DAGs).

    Every task runs in the real Task SDK runner (its own callbacks included); retries are kept but
    without delay, so a test sees the final failure at once.
    """
    for task in dag.tasks:
        task.retry_delay = timedelta(0)
        task.retry_exponential_backoff = 0
    write_dag(dag)
    return dag.test(**kwargs)


def write_dag(dag: Any) -> None:
    """Write ``dag`` to the metadata DB (the ``airflow_db`` fixture) as the dag-processor writes it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )
