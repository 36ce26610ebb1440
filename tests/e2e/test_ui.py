"""The Airflow UI of the embedded stack, as a person sees it in a real browser (Debian's chromium, headless).

After the demo's runs, the DAG list shows the project's DAGs and the grid of a DAG shows its successful
run; the Reports page shows the day's report with its charts, and refuses a visitor who is not logged in.
Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.demo import project_dag_ids
from devstack.stack import Stack
from tests import browser as browser_session
from tests.e2e.runs import ensure_every_dag_ran_green, successful_runs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def green_stack(stack: Stack) -> Stack:
    ensure_every_dag_ran_green(stack)
    return stack


@pytest.fixture(scope="module")
def signed_in(green_stack: Stack, chromium: Any) -> dict[str, Any]:
    """The cookies and storage of the stack's admin, signed in through the login form once."""
    airflow = green_stack.airflow
    return browser_session.signed_in_state(chromium, airflow.api_url, airflow.username, airflow.password)


@pytest.fixture
def browser(chromium: Any, signed_in: dict[str, Any]) -> Iterator[Any]:
    """A browser of the signed-in admin."""
    with browser_session.context(chromium, storage_state=signed_in) as context:
        yield context


@pytest.fixture
def visitor(chromium: Any) -> Iterator[Any]:
    """A browser that never signed in."""
    with browser_session.context(chromium) as context:
        yield context


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_the_dag_list_shows_every_project_dag_after_logging_in(green_stack, browser):
    page = browser.new_page()

    page.goto(f"{green_stack.airflow.api_url}/dags", wait_until="domcontentloaded")
    for dag_id in sorted(project_dag_ids()):
        page.get_by_role("link", name=dag_id, exact=True).first.wait_for()
    path = screenshot(page, "dag_list.png")

    page.locator('[data-testid="state-badge"][aria-label="success"]').first.wait_for()
    body = page.inner_text("body")
    assert all(dag_id in body for dag_id in project_dag_ids())
    assert "Sign into Airflow" not in body
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("dag_id", ["strava_activities", "s3_inventory_media_daily"])
def test_a_dags_grid_shows_every_task_of_its_successful_run(green_stack, browser, dag_id):
    run_id = successful_runs(green_stack, dag_id)[0]["dag_run_id"]  # the newest
    tasks = [t["task_id"] for t in green_stack.airflow.api("GET", f"/dags/{dag_id}/tasks")["tasks"]]
    page = browser.new_page()

    page.goto(f"{green_stack.airflow.api_url}/dags/{dag_id}/runs/{run_id}", wait_until="domcontentloaded")
    for task_id in tasks:  # one cell per task in the run's column of the grid
        page.locator(f'[data-testid="grid-{run_id}-{task_id}"]').first.wait_for()
    # the run page's state badges (the run's and each task instance's) read "Success"
    page.locator('[data-testid="state-badge"]', has_text="Success").first.wait_for()
    screenshot(page, f"grid_{dag_id}.png")

    assert page.locator('[data-testid^="grid-"][data-testid$="-' + tasks[-1] + '"]').count() >= 1
    badges = page.locator('[data-testid="state-badge"]')
    assert badges.count() >= 1
    # the run's badge reads Success, and each task instance's its state in the API: a drop the
    # watcher's run registered first is only confirmed by this run (register_partition skipped)
    tis = green_stack.airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    expected = {"Success"} | {ti["state"].capitalize() for ti in tis}
    assert expected <= {"Success", "Skipped"}, expected
    assert {badges.nth(i).inner_text().strip() for i in range(badges.count())} == expected
    assert "Page Not Found" not in page.inner_text("body")


def test_the_reports_page_shows_the_days_report_with_its_charts(green_stack, browser):
    days = requests.get(
        f"{green_stack.airflow.api_url}/reports/api/days",
        headers={"Authorization": f"Bearer {green_stack.airflow.token()}"},
        timeout=30,
    ).json()["days"]
    assert days, "the demo's daily_summaries run wrote no report"
    page = browser.new_page()

    page.goto(f"{green_stack.airflow.api_url}/reports/", wait_until="domcontentloaded")
    page.get_by_role("link", name=days[0]).click()
    page.wait_for_url(f"**/reports/day/{days[0]}")
    page.locator("svg").first.wait_for()
    screenshot(page, "report.png")

    assert page.locator("svg").count() >= 2  # the charts are inline SVG
    assert days[0] in page.inner_text("body")


def test_the_reports_page_is_refused_without_a_login(green_stack, visitor):
    page = visitor.new_page()

    answer = page.goto(f"{green_stack.airflow.api_url}/reports/", wait_until="domcontentloaded")

    assert answer is not None
    assert answer.status in (401, 403)
    assert "Daily data lake reports" not in page.inner_text("body")
