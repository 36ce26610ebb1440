"""The wheel is the product alone: the ``datalake`` package with the SQL, the price table and the default
configuration it reads at run time, nothing of the embedded stack, and it runs without the source tree next
to it."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".uv" / "bin" / "uv"
PACKAGE = ROOT / "plugins" / "datalake"
INCLUDE = ROOT / "include"
HARNESS = ("devstack", "moto", "duckdb", "sqlglot")  # the embedded stack and what only it needs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert UV.exists(), f"{UV} is missing: `make env` installs it"
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [str(UV), "build", "--wheel", "--python", sys.executable, "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _dist_info(names: list[str]) -> str:
    (folder,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    return folder


def test_the_wheel_holds_the_datalake_package_and_its_metadata_only(names):
    tops = {n.split("/")[0] for n in names}
    assert tops == {"datalake", _dist_info(names)}
    modules = {n.removeprefix("datalake/") for n in names if n.endswith(".py")}
    assert modules == {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_carries_every_sql_file_the_price_table_and_the_default_configuration(wheel, names):
    sql = {n.removeprefix("datalake/include/") for n in names if n.startswith("datalake/include/sql/")}
    assert sql == {p.relative_to(INCLUDE).as_posix() for p in (INCLUDE / "sql").rglob("*") if p.is_file()}
    for macros in ("inventory_macros", "strava_macros"):  # the summaries' shared expressions
        assert f"sql/summaries/{macros}.jinja" in sql
    assert not [n for n in names if n.endswith(".sql") and not n.startswith("datalake/include/sql/")]
    with zipfile.ZipFile(wheel) as archive:
        for shipped in ("datalake.yaml", "prices/s3.yaml"):
            assert archive.read(f"datalake/include/{shipped}") == (INCLUDE / shipped).read_bytes(), shipped


def test_the_wheel_declares_the_entry_points_of_the_project(wheel, names):
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{_dist_info(names)}/entry_points.txt").decode()
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # entry point names are case-sensitive
    parser.read_string(text)
    found = {group: dict(parser[group]) for group in parser.sections()}
    assert found == declared
    assert found["apache_airflow_provider"] == {"provider_info": "datalake.provider:get_provider_info"}


def test_the_wheel_requires_nothing_of_the_stack_and_pins_no_dependency(wheel, names):
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{_dist_info(names)}/METADATA").decode()
    requires = [
        Requirement(line.split(":", 1)[1])
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert requires, "the wheel declares no dependency"
    assert {r.name for r in requires} & set(HARNESS) == set()
    pinned = [str(r) for r in requires if any(s.operator in ("==", "===") for s in r.specifier)]
    assert pinned == []  # a library installed into someone's Airflow image: ranges, not pins


# Runs in an interpreter that sees the unpacked wheel and the venv's site-packages, nothing else: `-I -S`
# keep the working directory, PYTHON* variables and every .pth file (the editable install's adds the
# repo root and plugins/) out of sys.path.
_CLEAN_IMPORT = textwrap.dedent(
    """
    import importlib, json, sys
    from pathlib import Path

    unpacked, site_packages = sys.argv[1], sys.argv[2]
    sys.path[:0] = [unpacked]
    sys.path.append(site_packages)
    modules = sorted(
        ".".join(p.relative_to(unpacked).with_suffix("").parts).removesuffix(".__init__")
        for p in Path(unpacked, "datalake").rglob("*.py")
    )
    files = {name: importlib.import_module(name).__file__ for name in modules}

    from datalake import config, provider

    settings = config.get_config()
    print(json.dumps({
        "path": sys.path,
        "files": files,
        "loaded": sorted(sys.modules),
        "sql_dir": str(config.SQL_DIR),
        "sql_files": sorted(p.relative_to(config.SQL_DIR).as_posix() for p in config.SQL_DIR.rglob("*.sql")),
        "config_source": settings.source,
        "prices_path": str(config.PRICES_PATH),
        "prices_as_of": settings.prices.as_of,
        "connection_types": [c["connection-type"] for c in provider.get_provider_info()["connection-types"]],
    }))
    """
)


@pytest.fixture(scope="module")
def clean_run(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _CLEAN_IMPORT, str(unpacked), sysconfig.get_path("purelib")],
        capture_output=True,
        text=True,
        cwd=home,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_every_module_of_the_wheel_imports_from_the_wheel_without_the_source_tree(clean_run, unpacked):
    assert str(ROOT) not in clean_run["path"]
    assert str(ROOT / "plugins") not in clean_run["path"]
    outside = {m: f for m, f in clean_run["files"].items() if not Path(f).is_relative_to(unpacked)}
    assert outside == {}
    assert len(clean_run["files"]) == len(list(PACKAGE.rglob("*.py")))


def test_importing_the_product_loads_nothing_of_the_embedded_stack(clean_run):
    loaded = [m for m in clean_run["loaded"] if m.split(".")[0] in HARNESS]
    assert loaded == []


def test_the_installed_package_finds_its_sql_and_default_configuration_inside_itself(clean_run, unpacked):
    sql_dir = Path(clean_run["sql_dir"])
    assert sql_dir.is_relative_to(unpacked / "datalake")
    assert clean_run["sql_files"] == sorted(
        p.relative_to(INCLUDE / "sql").as_posix() for p in (INCLUDE / "sql").rglob("*.sql")
    )
    assert Path(clean_run["config_source"]) == unpacked / "datalake" / "include" / "datalake.yaml"
    assert Path(clean_run["prices_path"]) == unpacked / "datalake" / "include" / "prices" / "s3.yaml"
    assert clean_run["prices_as_of"]
    assert clean_run["connection_types"] == ["strava"]


RENDER = """
import json, sys
sys.path.insert(0, sys.argv[1])  # the installed wheel, ahead of the project's editable install
from datalake.reports import render
page = render.render_report({"day": "2026-11-20", "sources": {}})
print(json.dumps({"module": render.__file__, "template": render.report_template().filename,
                  "page": page, "list": render.render_report_list(["2026-11-20"])}))
"""


def test_the_report_renders_from_the_installed_wheel_outside_the_project(unpacked, tmp_path):
    """The report's templates ship in the package and are found wherever it is installed, whatever the
    current directory (the Docker image runs Airflow from /opt/airflow, not from the project)."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", RENDER, str(unpacked)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    templates = unpacked / "datalake" / "reports" / "templates"
    assert Path(found["module"]).is_relative_to(unpacked)
    assert Path(found["template"]) == templates / "report.html.j2"
    assert "Data lake report for 2026-11-20" in found["page"]
    assert "nothing is configured to summarise" in found["page"]  # from the macros next to it
    assert "border-collapse:collapse" in found["page"]  # the inline CSS, also next to it
    assert 'href="day/2026-11-20"' in found["list"]
