# The official Airflow 3.3 image with this package and its pinned requirements (from uv.lock).
FROM apache/airflow:3.3.2-python3.11

USER root
COPY --chown=airflow:root . /opt/airflow/project
USER airflow
WORKDIR /opt/airflow/project
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv export --frozen --no-dev --no-emit-project --no-hashes --group stack -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -e .
WORKDIR /opt/airflow
