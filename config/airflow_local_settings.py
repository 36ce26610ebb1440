"""Airflow's local settings for this project's deployments (the embedded stack, the Docker image).

Airflow imports this module once in each of its processes at start. The dag-processor then forks a
parser per DAG file from a process that has already imported what every parse of this project's DAG
files needs (see ``datalake.parsing``).
"""

from datalake.parsing import pre_import

pre_import()
