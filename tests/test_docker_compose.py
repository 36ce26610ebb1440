"""docker-compose.yaml and the Dockerfile cannot run here (no Docker engine); they are checked as files.

The requirement files the images install are the Dockerfile's own ``uv export`` commands, run here
against uv.lock with the uv the Makefile pins.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import pytest
import yaml

from datalake.config import DEFAULT_CONFIG_PATH, load_config

ROOT = Path(__file__).resolve().parents[1]
HARNESS = {"moto", "duckdb", "sqlglot"}
STAND_INS = {"local-aws", "strava-api", "airflow-init"}
DEFAULT_MODE = {"postgres", "local-aws", "strava-api", "airflow-init"}
DEFAULT_MODE |= {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
CELERY_SERVICES = {"redis", "airflow-worker", "flower"}


class Mode(NamedTuple):
    profiles: tuple[str, ...]  # docker compose --profile ...
    variables: dict[str, str]  # what the user sets in the shell or .env
    executor: str
    services: set[str]  # what `up` starts


MODES = {
    "local": Mode((), {}, "LocalExecutor", DEFAULT_MODE),
    "celery": Mode(
        ("celery",), {"AIRFLOW_EXECUTOR": "CeleryExecutor"}, "CeleryExecutor", DEFAULT_MODE | CELERY_SERVICES
    ),
}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages((ROOT / "Dockerfile").read_text())


def _locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def _interpolate(value: object, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}`` / ``${NAME:-default}`` with ``variables`` as the shell's environment."""
    return _VARIABLE.sub(lambda m: variables.get(m["name"]) or m["default"] or "", str(value))


def _started(compose: dict, profiles: tuple[str, ...]) -> set[str]:
    """The services ``docker compose --profile ... up`` starts: those without a profile or in one given."""
    return {
        name
        for name, service in compose["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def _unmet_dependencies(compose: dict, started: set[str]) -> set[tuple[str, str]]:
    """Required dependencies of started services that are not started (Compose refuses to run them)."""
    unmet = set()
    for name in started:
        depends_on = compose["services"][name].get("depends_on") or {}
        if isinstance(depends_on, list):  # the short form: every entry required
            depends_on = {dep: {} for dep in depends_on}
        unmet |= {(name, d) for d, c in depends_on.items() if d not in started and c.get("required", True)}
    return unmet


def _airflow_services(compose: dict) -> set[str]:
    return {name for name in compose["services"] if name.startswith("airflow-") or name == "flower"}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _stages(dockerfile: str) -> list[Stage]:
    """The Dockerfile's stages in order, each with its instructions, continuation lines joined."""
    lines, pending = [], ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            words = [w for w in arguments.split() if not w.startswith("--")]
            named = len(words) == 3 and words[1].lower() == "as"
            stages.append(Stage(words[2] if named else str(len(stages)), words[0]))
        else:
            stages[-1].instructions.append((keyword.upper(), arguments))
    return stages


def _image(stages: list[Stage], target: str | None = None) -> list[tuple[str, str]]:
    """The instructions that make ``target`` (Docker's default: the last stage), its bases' first."""
    by_name = {stage.name: stage for stage in stages}
    stage = by_name[target] if target else stages[-1]
    instructions = list(stage.instructions)
    while stage.base in by_name:
        stage = by_name[stage.base]
        instructions = stage.instructions + instructions
    return instructions


def _commands(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """The shell commands of the RUN instructions, split at ``&&``, each as its words."""
    commands = []
    for keyword, arguments in instructions:
        if keyword == "RUN":
            for part in arguments.split("&&"):
                words = [w for w in shlex.split(part) if not w.startswith("--mount=")]
                if words:
                    commands.append(words)
    return commands


def _after(words: list[str], *program: str) -> list[str] | None:
    """The arguments of ``program`` (e.g. ``pip install``) in a command, None if it is another one."""
    for i in range(len(words) - len(program) + 1):
        if tuple(words[i : i + len(program)]) == program:
            return words[i + len(program) :]
    return None


def _copy(arguments: str) -> tuple[tuple[str, ...], str]:
    """A COPY instruction's sources from the build context (none when it copies from a stage) and its
    destination."""
    words = shlex.split(arguments)
    paths = [w for w in words if not w.startswith("--")]
    from_stage = any(w.startswith("--from=") for w in words)
    return (() if from_stage else tuple(paths[:-1])), paths[-1]


def _uv() -> str:
    uv = ROOT / ".uv" / "bin" / "uv"
    assert uv.exists(), "no .uv/bin/uv: `make env` installs the uv the Makefile pins"
    return str(uv)


def _requirement_names(text: str) -> set[str]:
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower() for name in names}


def _installed_requirements(stages: list[Stage], target: str | None, tmp_path: Path) -> set[str]:
    """What ``pip install -r`` installs in ``target``: the Dockerfile's exports of those files, run here."""
    exports = {}
    for stage in stages:
        for words in _commands(stage.instructions):
            arguments = _after(words, "uv", "export")
            if arguments is not None:
                exports[Path(arguments[arguments.index("-o") + 1]).name] = arguments
    names: set[str] = set()
    for words in _commands(_image(stages, target)):
        arguments = _after(words, "pip", "install") or []
        for requirements in (arguments[i + 1] for i, a in enumerate(arguments) if a == "-r"):
            name = Path(requirements).name
            assert name in exports, f"no `uv export -o` in the Dockerfile writes {requirements}"
            export = list(exports[name])
            export[export.index("-o") + 1] = str(tmp_path / name)
            environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
            subprocess.run(
                [_uv(), "export", "--quiet", *export], cwd=ROOT, env=environment, check=True, timeout=120
            )
            names |= _requirement_names((tmp_path / name).read_text())
    return names


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


def test_every_image_is_the_airflow_version_of_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    images = re.findall(r"^FROM apache/airflow:(\S+)-python(\S+)", dockerfile, re.MULTILINE)
    assert images
    assert set(images) == {(_locked_version("apache-airflow"), "3.11")}


def test_the_metadata_db_is_postgres(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")


def test_each_mode_starts_its_services_with_every_dependency_and_its_executor(compose):
    for name, mode in MODES.items():
        started = _started(compose, mode.profiles)
        assert started == mode.services, name
        assert _unmet_dependencies(compose, started) == set(), name
        executors = {
            service: _interpolate(
                compose["services"][service]["environment"]["AIRFLOW__CORE__EXECUTOR"], mode.variables
            )
            for service in started & _airflow_services(compose)
        }
        assert set(executors.values()) == {mode.executor}, (name, executors)


def test_celery_reaches_the_broker_and_result_backend_the_file_starts(compose):
    env = compose["services"]["airflow-worker"]["environment"]
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert (broker.scheme, broker.hostname) == ("redis", "redis")
    assert (backend.scheme, backend.hostname) == ("db+postgresql", "postgres")
    assert {broker.hostname, backend.hostname} <= _started(compose, ("celery",))


def test_the_celery_services_run_only_under_the_celery_profile(compose):
    profiled = {name: s["profiles"] for name, s in compose["services"].items() if s.get("profiles")}
    assert profiled == {name: ["celery"] for name in CELERY_SERVICES}


def test_the_worker_can_be_scaled_to_several_copies(compose):
    worker = compose["services"]["airflow-worker"]
    assert worker["command"] == "celery worker"
    # Each would be shared by the copies: a fixed name or host port makes --scale fail, a fixed host
    # name gives every copy the same Celery node name.
    assert {"container_name", "hostname", "ports"} & set(worker) == set()
    assert "$${HOSTNAME}" in " ".join(worker["healthcheck"]["test"]), "each copy checks its own node"


def test_every_airflow_service_shares_the_common_image_environment_and_volumes(compose):
    common = compose["x-airflow-common"]
    assert common["build"]["target"] == "production"
    differ = set()
    for name in sorted(_airflow_services(compose)):
        service = compose["services"][name]
        shared = {
            "environment": common["environment"].items() <= service["environment"].items(),
            "volumes": set(common["volumes"]) <= set(service["volumes"]),
            "user": service["user"] == common["user"],
            "image": name == "airflow-init"
            or (service["image"], service["build"]) == (common["image"], common["build"]),
        }
        differ |= {(name, key) for key, same in shared.items() if not same}
    assert differ == set()


def test_the_stand_ins_and_the_init_job_run_the_devstack_image(compose, stages):
    production = compose["x-airflow-common"]["image"]
    built = {name: s for name, s in compose["services"].items() if "build" in s}
    targets = {name: s["build"]["target"] for name, s in built.items()}
    assert targets == {name: "devstack" if name in STAND_INS else "production" for name in built}
    images = {built[name]["image"] for name in STAND_INS}
    assert len(images) == 1
    assert production not in images
    assert set(targets.values()) <= {stage.name for stage in stages}


def test_docker_builds_the_production_image_by_default(stages):
    assert stages[-1].name == "production"


def test_the_production_image_installs_the_locked_runtime_without_the_harness(stages, tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION := (\S+)", makefile, re.MULTILINE).group(1)
    uv_installs = [w for s in stages for w in _commands(s.instructions) if _after(w, "pip", "install")]
    assert {w for words in uv_installs for w in words if w.startswith("uv==")} == {f"uv=={pinned}"}
    installed = _installed_requirements(stages, None, tmp_path)
    assert {"apache-airflow", "apache-airflow-providers-amazon", "pyarrow"} <= installed
    assert installed & HARNESS == set()
    sources = [_copy(args)[0] for keyword, args in _image(stages) if keyword == "COPY"]
    assert [s for s in sources if "." in s or any("devstack" in Path(p).parts for p in s)] == []


def test_the_production_image_installs_the_package_as_built_not_editable(stages):
    installs = [_after(words, "pip", "install") for words in _commands(_image(stages))]
    installs = [arguments for arguments in installs if arguments is not None]
    assert [a for a in installs if {"-e", "--editable"} & set(a)] == []
    project = [a for a in installs if "--no-deps" in a and ("." in a or any(w.endswith(".whl") for w in a))]
    assert len(project) == 1, installs


def test_the_devstack_image_is_production_plus_the_stack_group_and_the_stand_ins(stages, tmp_path):
    production, devstack = _image(stages), _image(stages, "devstack")
    assert [i for i in production if i not in devstack] == []
    assert _installed_requirements(stages, "devstack", tmp_path) >= HARNESS
    copied = dict(_copy(args) for keyword, args in devstack if keyword == "COPY")
    env = dict(w.split("=", 1) for keyword, args in devstack if keyword == "ENV" for w in shlex.split(args))
    destination = copied[("devstack",)]
    assert str(Path(destination).parent) in env["PYTHONPATH"].split(":"), "python -m devstack.aws imports"


def test_the_scheduler_serves_the_health_check_its_healthcheck_polls(compose):
    template = Path(importlib.util.find_spec("airflow").origin).parent / "config_templates" / "config.yml"
    options = yaml.safe_load(template.read_text())["scheduler"]["options"]
    port = options["scheduler_health_check_server_port"]["default"]
    scheduler = compose["services"]["airflow-scheduler"]
    assert f"localhost:{port}/health" in " ".join(scheduler["healthcheck"]["test"])
    assert options["enable_health_check"]["default"] == "False", "off unless the file turns it on"
    assert scheduler["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"


def test_every_airflow_container_reads_one_fernet_key(compose):
    # Airflow writes a random key to a new airflow.cfg when none is configured: each container would
    # get its own and could not decrypt the connections airflow-init stored.
    assert "AIRFLOW__CORE__FERNET_KEY" in compose["x-airflow-common"]["environment"]


def test_the_header_says_how_to_run_each_mode(compose):
    text = (ROOT / "docker-compose.yaml").read_text()
    header = "\n".join(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines()))
    variable = _VARIABLE.match(compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"])["name"]
    assert "docker compose up --build" in header
    assert f"{variable}=CeleryExecutor" in header
    assert "--profile celery" in header
    assert "--scale airflow-worker=" in header


def test_the_production_image_carries_the_airflow_local_settings_that_pre_import_for_parsing(stages):
    copies = [_copy(args) for keyword, args in _image(stages) if keyword == "COPY"]
    settings = ("config/airflow_local_settings.py",)
    assert (settings, "/opt/airflow/config/airflow_local_settings.py") in copies
    assert "datalake.parsing" in (ROOT / settings[0]).read_text()


def test_the_production_image_configures_the_providers_session_factory(stages):
    from datalake.aws_sessions import SESSION_FACTORY

    envs = [shlex.split(args) for keyword, args in _image(stages) if keyword == "ENV"]
    assert ["AIRFLOW__AWS__SESSION_FACTORY=" + SESSION_FACTORY] in envs


def test_the_strava_stand_in_pushes_events_to_the_configured_queue_on_the_local_aws(compose):
    config = load_config(Path(DEFAULT_CONFIG_PATH))
    entrypoint = compose["services"]["strava-api"]["entrypoint"]
    option = dict(itertools.pairwise(entrypoint))
    assert option["--events-queue-url"] == config.strava.events_queue_url
    aws = urlsplit(option["--aws-endpoint-url"])
    local_aws = compose["services"]["local-aws"]["entrypoint"]
    assert (aws.hostname, str(aws.port)) == ("local-aws", local_aws[local_aws.index("--port") + 1])
    assert compose["services"]["strava-api"]["depends_on"]["local-aws"]["condition"] == "service_healthy"
