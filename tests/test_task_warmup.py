"""A task forked from a process that ran the warm-up makes its AWS clients without reading botocore's models.

``config/airflow_local_settings.py`` runs ``datalake.task_warmup.warm_up`` in every Airflow process at
start; the scheduler's LocalExecutor workers (and a Celery worker's pool) fork each task from there. In
a fresh interpreter with the tests' Airflow configuration (the package's session factory), a child
forked before the warm-up and one forked after it each make the provider's hooks' clients of every
service the warm-up names, as tasks do, and record every botocore data file they open
(``sys.addaudithook``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys
from datalake.parsing import pre_import
from datalake.task_warmup import SERVICES, warm_up
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

def models_read_by_a_forked_task():
    read, write = os.pipe()
    if os.fork() == 0:
        opened = []
        def audit(event, args):
            if event == "open" and isinstance(args[0], str) and "botocore" in args[0] and "/data/" in args[0]:
                opened.append(args[0])
        sys.addaudithook(audit)
        for service in SERVICES:
            AwsBaseHook(aws_conn_id="aws_default", region_name="us-east-1", client_type=service).get_conn()
        os.write(write, json.dumps(opened).encode())
        os._exit(0)
    os.close(write)
    os.wait()
    return json.loads(os.read(read, 1 << 20).decode())

pre_import()
cold = models_read_by_a_forked_task()
warm_up()
print(json.dumps({"cold": cold, "warm": models_read_by_a_forked_task()}))
"""


@pytest.mark.usefixtures("local_aws")
def test_a_task_forked_after_the_warm_up_reads_no_botocore_model_for_its_clients():
    found = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    read = json.loads(found.stdout.splitlines()[-1])  # the last line: Airflow may log to stdout

    assert any("athena" in path for path in read["cold"]), read  # without it, each task reads them
    assert read["warm"] == []
