"""The Reports page on a real ``airflow api-server`` (its own process, on the tests' metadata DB and the
local AWS): who may see it, the headers it is served with, and how a browser treats it (Debian's chromium,
headless), alone and inside the Airflow UI's iframe.

Users of the simple auth manager: ``reader`` (role viewer: reads every DAG) and ``outsider`` (no role:
signs in, reads nothing). The simple auth manager cannot give a role on some DAGs only; a user without a
role is the one that can log in and may not read ``daily_summaries``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from datalake.config import CONFIG_ENV_VAR, load_config
from datalake.reports.render import render_report
from datalake.reports.store import ReportStore
from devstack.processes import free_port, spawn, stop_group
from tests import browser as browser_session
from tests.environment import deployed_python_path, environment

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "reports-web-test"
DAY, HOSTILE_DAY = "2026-11-20", "2026-11-21"
# What a person who can write the reports prefix could put there: script in every shape a page allows.
HOSTILE_PAGE = """<!DOCTYPE html><html><head><title>hostile</title>
<script>document.title = "script ran"</script></head>
<body><h1 id="said">untouched</h1>
<img src="data:," onerror="document.getElementById('said').textContent = 'handler ran'">
<img src="/reports/api/days?asked-by=hostile-page"></body></html>"""


@dataclass
class ReportsServer:
    url: str
    passwords: dict[str, str]

    def token(self, username: str) -> str:
        answer = requests.post(
            f"{self.url}/auth/token",
            json={"username": username, "password": self.passwords[username]},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def get(self, path: str, username: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return requests.get(f"{self.url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def reports_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = yaml.safe_load((ROOT / "include" / "datalake.yaml").read_text())
    raw["reports"]["bucket"] = BUCKET
    path = tmp_path_factory.mktemp("web-config") / "datalake.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def stored_reports(local_aws: str, s3: Any, reports_config: Path) -> None:
    """A report of DAY as the publish task writes it, and a hostile page written straight to the prefix."""
    s3.create_bucket(Bucket=BUCKET)
    document = {
        "day": DAY,
        "generated_at": "2026-11-20 06:00 UTC",
        "sources": {
            "strava": {"kind": "strava", "title": "Training (Strava)", "values": None, "reason": "x"}
        },
    }
    conn = json.dumps({"conn_type": "aws", "extra": {"endpoint_url": local_aws, "region_name": "us-east-1"}})
    with environment(AIRFLOW_CONN_AWS_DEFAULT=conn):
        store = ReportStore(load_config(reports_config))
        store.write(DAY, render_report(document), document)
        s3.put_object(Bucket=BUCKET, Key=store.key(HOSTILE_DAY), Body=HOSTILE_PAGE.encode())


@pytest.fixture(scope="module")
def server(
    airflow_db: None, local_aws: str, stored_reports: None, reports_config: Path, tmp_path_factory: Any
) -> Iterator[ReportsServer]:
    """``airflow api-server`` on a free port, in its own process group, stopped as a group."""
    home = tmp_path_factory.mktemp("reports-api-server")
    passwords = {"reader": secrets.token_urlsafe(16), "outsider": secrets.token_urlsafe(16)}
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    port = free_port()
    env = dict(os.environ)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(
        {
            CONFIG_ENV_VAR: str(reports_config),
            "PYTHONPATH": deployed_python_path(),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "extra": {"endpoint_url": local_aws, "region_name": "us-east-1"}}
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reader:viewer,outsider:",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    log_path = home / "api-server.log"
    proc = spawn(
        [airflow, "api-server", "--port", str(port), "--host", "127.0.0.1"], log_path=log_path, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield ReportsServer(url, passwords)
    finally:
        stop_group(proc.pid)


# -- who may see it ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/reports/", "/reports/api/days", f"/reports/day/{DAY}"])
def test_an_anonymous_visitor_is_refused(server, path):
    assert server.get(path).status_code == 401


@pytest.mark.parametrize("path", ["/reports/", "/reports/api/days", f"/reports/day/{DAY}"])
def test_a_signed_in_user_who_may_not_read_the_summaries_dag_is_refused(server, path):
    answer = server.get(path, "outsider")
    assert answer.status_code == 403
    assert DAY not in answer.text


def test_a_user_who_may_read_the_summaries_dag_sees_the_list_and_the_reports(server):
    listing = server.get("/reports/", "reader")
    assert listing.status_code == 200
    assert f'href="day/{DAY}"' in listing.text
    assert server.get("/reports/api/days", "reader").json() == {"days": [HOSTILE_DAY, DAY]}
    page = server.get(f"/reports/day/{DAY}", "reader")
    assert page.status_code == 200
    assert f"Data lake report for {DAY}" in page.text
    assert server.get("/reports/day/2031-01-01", "reader").status_code == 404
    assert server.get("/reports/day/not-a-day", "reader").status_code == 404
    assert server.get("/reports/", "outsider").status_code == 403  # the same server, the other user


def test_an_invalid_token_is_refused(server):
    answer = requests.get(
        f"{server.url}/reports/", headers={"Authorization": "Bearer not-a-token"}, timeout=30
    )
    assert answer.status_code == 403


# -- how it is served -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("/reports/", "reader"),
        (f"/reports/day/{DAY}", "reader"),
        ("/reports/day/2031-01-01", "reader"),
        ("/reports/", None),
        ("/reports/", "outsider"),
    ],
)
def test_every_answer_carries_the_strict_content_security_policy(server, path, user):
    headers = server.get(path, user).headers
    directives = {
        d.strip().split(" ", 1)[0]: d.strip() for d in headers["Content-Security-Policy"].split(";")
    }
    assert directives["default-src"] == "default-src 'none'"
    assert directives["style-src"] == "style-src 'unsafe-inline'"
    assert directives["img-src"] == "img-src data:"
    assert directives["frame-ancestors"] == "frame-ancestors 'self'"
    # the page keeps its origin (its links carry the login cookie), and may run nothing with it
    assert directives["sandbox"] == "sandbox allow-same-origin"
    assert "script-src" not in directives
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"


# -- in a browser -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reader(server: ReportsServer, chromium: Any) -> dict[str, Any]:
    """The cookies and storage of ``reader``, signed in through the UI's login form once."""
    return browser_session.signed_in_state(chromium, server.url, "reader", server.passwords["reader"])


@pytest.fixture
def signed_in(chromium: Any, reader: dict[str, Any]) -> Iterator[Any]:
    """A page of a fresh browser context of the signed-in ``reader``."""
    with browser_session.context(chromium, storage_state=reader) as context:
        yield context.new_page()


def test_the_airflow_ui_still_shows_the_reports_page_in_its_iframe(server, signed_in):
    page = signed_in
    page.goto(f"{server.url}/plugin/reports", wait_until="domcontentloaded")
    frame = page.frame_locator("iframe")
    frame.get_by_role("heading", name="Daily data lake reports").wait_for()
    frame.get_by_role("link", name=DAY).click()  # a link inside the sandboxed page still navigates it
    frame.get_by_role("heading", name=f"Data lake report for {DAY}").wait_for()


def test_on_its_own_the_reports_page_links_to_each_days_report(server, signed_in):
    page = signed_in
    page.goto(f"{server.url}/reports/", wait_until="domcontentloaded")
    page.get_by_role("link", name=DAY).click()
    page.wait_for_url(f"**/reports/day/{DAY}")
    page.get_by_role("heading", name=f"Data lake report for {DAY}").wait_for()


def test_a_hostile_page_in_the_reports_prefix_runs_no_script_and_loads_nothing(server, signed_in):
    page = signed_in
    fetched: list[str] = []
    page.on("requestfinished", lambda request: fetched.append(request.url))
    page.goto(f"{server.url}/reports/day/{HOSTILE_DAY}", wait_until="load")
    page.wait_for_timeout(500)
    assert page.inner_text("#said") == "untouched"
    assert page.evaluate("document.title") == "hostile"  # evaluated by the test, not by the page
    assert f"{server.url}/reports/day/{HOSTILE_DAY}" in fetched
    assert not [url for url in fetched if "hostile-page" in url]  # its image was never fetched


class _Embedding(BaseHTTPRequestHandler):
    """Another site that frames the Reports page."""

    target = ""

    def do_GET(self) -> None:
        body = f'<!DOCTYPE html><iframe src="{self.target}" width="800" height="600"></iframe>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_another_site_cannot_frame_the_reports_page(server, signed_in):
    handler = type("Embedding", (_Embedding,), {"target": f"{server.url}/reports/day/{DAY}"})
    # another origin (another port) of the same site, so the browser still sends the login cookie
    other = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        page = signed_in
        page.goto(f"http://127.0.0.1:{other.server_port}/", wait_until="load")
        page.wait_for_timeout(1000)
        framed = page.frames[1]
        assert "Data lake report" not in framed.content()
    finally:
        other.shutdown()
        other.server_close()
        thread.join(timeout=10)


def test_by_default_the_reports_live_apart_from_the_athena_results():
    """Every principal that runs a query can write the results bucket; the page is served as it is found."""
    config = load_config(ROOT / "include" / "datalake.yaml")
    assert config.reports.bucket not in {config.athena.results_bucket, config.lake.bucket}
    assert config.reports.bucket not in {inv.destination_bucket for inv in config.inventories}
