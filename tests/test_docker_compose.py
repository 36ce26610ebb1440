"""docker-compose.yaml cannot run here (no Docker engine); it is checked as a file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def test_compose_defines_the_airflow_components_and_the_stand_ins(compose):
    services = set(compose["services"])
    expected = {"postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}
    expected |= {"airflow-triggerer", "airflow-init", "local-aws", "strava-api"}
    assert expected <= services


def test_every_service_a_service_depends_on_is_defined(compose):
    services = set(compose["services"])
    missing = {
        (name, dep)
        for name, service in compose["services"].items()
        for dep in (service.get("depends_on") or {})
        if dep not in services
    }
    assert missing == set()


def test_every_long_running_service_has_a_healthcheck(compose):
    without = [
        name
        for name, service in compose["services"].items()
        if name != "airflow-init" and "healthcheck" not in service
    ]
    assert without == []


def test_every_mounted_path_exists_in_the_repo(compose):
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert mounts, "the DAGs, plugins and include folders are mounted"
    assert {m for m in mounts if not (ROOT / m).exists()} == set()
    assert {"./dags", "./plugins", "./include"} <= set(mounts)


def test_the_image_is_the_airflow_version_of_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    image = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)", dockerfile, re.MULTILINE)
    assert image is not None
    assert image.group(1) == _locked_version("apache-airflow")
    assert image.group(2) == "3.11"


def test_the_metadata_db_is_postgres(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
