"""Airflow's local settings for this project's deployments (the embedded stack, the Docker image).

Airflow imports this module once in each of its processes at start. The dag-processor then forks a
parser per DAG file from a process that has already imported what every parse of this project's DAG
files needs (see ``datalake.parsing``), and the scheduler (or a Celery worker) forks each task from a
process that has already loaded what every task's first AWS client needs (``datalake.task_warmup``).
Each process, when it stops, skips Python's last walk over its objects (``datalake.process_exit``).
"""

from datalake.parsing import pre_import
from datalake.process_exit import freeze_at_exit
from datalake.task_warmup import warm_up

pre_import()
warm_up()
freeze_at_exit()
