# Two images from one file, both on the official Airflow 3.3 image:
#   production (the default: `docker build .`): Airflow, this package's runtime requirements pinned by
#       uv.lock, and the package itself, installed from its wheel. No harness (moto, DuckDB, sqlglot).
#   devstack (`docker build --target devstack .`): production plus the `stack` dependency group and the
#       devstack/ source, for docker-compose.yaml's local stand-ins and its init job only.
# Docker builds the last stage by default, so production comes last.

# The requirement files and the wheel, made with the uv the Makefile pins (in /tmp/dist).
FROM apache/airflow:3.3.2-python3.11 AS build
COPY --chown=airflow:root . /tmp/src
WORKDIR /tmp/src
RUN pip install --no-cache-dir uv==0.13.9 \
 && mkdir -p /tmp/dist \
 && python -m uv export --frozen --no-dev --no-default-groups --no-emit-project \
      -o /tmp/dist/runtime-requirements.txt \
 && python -m uv export --frozen --only-group stack --no-emit-project \
      -o /tmp/dist/stack-requirements.txt \
 && python -m uv build --wheel --out-dir /tmp/dist

# The build stage's files are mounted for the install only: none of them stays in a layer.
FROM apache/airflow:3.3.2-python3.11 AS runtime
RUN --mount=type=bind,from=build,source=/tmp/dist,target=/tmp/dist \
    pip install --no-cache-dir -r /tmp/dist/runtime-requirements.txt \
 && pip install --no-cache-dir --no-deps /tmp/dist/*.whl
# Airflow's local settings ($AIRFLOW_HOME/config is on every Airflow process's path): they pre-import
# what the dag-processor's parsers need (datalake.parsing) and load what every task's first AWS client
# needs before the scheduler or a worker forks it (datalake.task_warmup).
COPY --chown=airflow:root config/airflow_local_settings.py /opt/airflow/config/airflow_local_settings.py
# The Amazon provider's hooks share one botocore loader per process (datalake.aws_sessions).
ENV AIRFLOW__AWS__SESSION_FACTORY=datalake.aws_sessions.SessionFactory

FROM runtime AS devstack
RUN --mount=type=bind,from=build,source=/tmp/dist,target=/tmp/dist \
    pip install --no-cache-dir -r /tmp/dist/stack-requirements.txt
COPY --chown=airflow:root devstack /opt/devstack/devstack
ENV PYTHONPATH=/opt/devstack
# docker-compose.yaml's stack-state volume: an empty named volume takes this directory's owner, so the
# stand-ins and Airflow (uid AIRFLOW_UID, group 0) can write it.
USER root
RUN install -d -o airflow -g root -m 0775 /stack
USER airflow

FROM runtime AS production
