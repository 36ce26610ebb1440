"""The tests' browser: Debian's chromium, headless, driven by Playwright. One chromium per module (the
``chromium`` fixture of ``tests/conftest.py``) and a context per test (its own cookies and storage, as a
fresh profile has); a sign-in through the login form is done once, its cookies handed to the contexts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WAIT_MS = 60_000


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """A headless chromium, closed whatever happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def context(browser: Any, **options: Any) -> Iterator[Any]:
    """A context of ``browser`` (Playwright's ``new_context`` options), closed whatever happens."""
    opened = browser.new_context(viewport={"width": 1400, "height": 900}, **options)
    opened.set_default_timeout(WAIT_MS)
    try:
        yield opened
    finally:
        opened.close()


def sign_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the Airflow UI's login form, as a person does."""
    page.goto(f"{base_url}/", wait_until="domcontentloaded")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def signed_in_state(browser: Any, base_url: str, username: str, password: str) -> dict[str, Any]:
    """The cookies and storage of ``username`` after a sign-in through the login form."""
    with context(browser) as opened:
        sign_in(opened.new_page(), base_url, username, password)
        return opened.storage_state()
