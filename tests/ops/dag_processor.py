"""A DAG-level callback run as the dag-processor runs it, for the tests.

The scheduler hands a failed run's callback to the dag-processor, which starts a child process that
parses the DAG file and calls the DAG's ``on_failure_callback`` there; the child asks its supervisor
(the dag-processor, here this process, answering through Airflow's in-process Execution API on the
metadata DB) for Variables and the run's task states. ``dag.test()`` instead calls the callback in its
own process, where no supervisor answers.
"""

from __future__ import annotations

import selectors
import signal
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def run_failure_callback(
    dag_id: str, run_id: str, file_name: str, log_path: Path, timeout: float = 120
) -> None:
    """Run the DAG-level failure callback of ``run_id`` of ``dag_id`` in a dag-processor child."""
    import structlog
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
    from airflow.callbacks.callback_requests import DagCallbackRequest
    from airflow.dag_processing.processor import DagFileProcessorProcess
    from airflow.sdk.api.client import Client
    from airflow.sdk.log import logging_processors

    api = InProcessExecutionAPI()
    client = Client(base_url=None, token="", dry_run=True, transport=api.transport)
    client.base_url = "http://in-process.invalid./"
    request = DagCallbackRequest(
        filepath=file_name,
        dag_id=dag_id,
        run_id=run_id,
        bundle_name="dags-folder",
        bundle_version=None,
        is_failure_callback=True,
        msg="task_failure",
    )
    selector = selectors.DefaultSelector()
    with open(log_path, "ab") as handle:
        logger = structlog.wrap_logger(
            structlog.BytesLogger(handle),
            processors=logging_processors(json_output=True),
            logger_name="processor",
        ).bind()
        proc = DagFileProcessorProcess.start(
            id=uuid.uuid4(),
            path=DAGS / file_name,
            bundle_path=DAGS,
            bundle_name="dags-folder",
            dag_file_rel_path=file_name,
            callbacks=[request],
            selector=selector,
            logger=logger,
            logger_filehandle=handle,
            client=client,
        )
        deadline = time.monotonic() + timeout
        try:
            while not proc.is_ready:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the dag-processor child did not finish in {timeout:.0f}s; see {log_path}"
                    )
                for key, _ in selector.select(timeout=1.0):
                    handler, on_close = key.data
                    try:
                        more = handler(key.fileobj)
                    except (BrokenPipeError, ConnectionResetError):
                        more = False
                    if not more:
                        on_close(key.fileobj)
                        key.fileobj.close()
        finally:
            if not proc.is_ready:  # stopped by its own pid, whatever went wrong here
                proc.kill(signal.SIGKILL)
            selector.close()
