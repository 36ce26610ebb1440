"""The report's templates ship in the package and are found from wherever it is installed, whatever the
current directory (the Docker image runs Airflow from /opt/airflow, not from the project)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".uv" / "bin" / "uv"  # the uv that `make env` installs

RENDER = """
import json, sys
sys.path.insert(0, sys.argv[1])  # the installed wheel, ahead of the project's editable install
from datalake.reports import render
page = render.render_report({"day": "2026-11-20", "sources": {}})
print(json.dumps({"module": render.__file__, "template": render.report_template().filename,
                  "page": page, "list": render.render_report_list(["2026-11-20"])}))
"""


def test_the_page_renders_from_an_installed_wheel_outside_the_project(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = [str(UV), "build", "--wheel", "--python", sys.executable, "--out-dir", str(dist), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, cwd=ROOT, timeout=300)
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)

    done = subprocess.run(
        [sys.executable, "-I", "-c", RENDER, str(site)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    templates = site / "datalake" / "reports" / "templates"
    assert Path(found["module"]).is_relative_to(site)
    assert Path(found["template"]) == templates / "report.html.j2"
    assert "Data lake report for 2026-11-20" in found["page"]
    assert "nothing is configured to summarise" in found["page"]  # from the macros next to it
    assert "border-collapse:collapse" in found["page"]  # the inline CSS, also next to it
    assert 'href="day/2026-11-20"' in found["list"]
