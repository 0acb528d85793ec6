"""Pages in a real browser: Debian's Chromium driven by Playwright, against the application
served on a free local port over the test database and Redis.

Every page a test visits can be kept as a screenshot under ``artifacts/screenshots`` with
``shoot(page, "name")``; CI keeps that folder as the run's artifacts.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def chromium_path() -> str:
    """Debian's Chromium (``.ci/services`` installs it); Playwright downloads no browser."""
    for candidate in (os.environ.get("HELLOWORD_CHROMIUM", ""), "chromium", "chromium-browser"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    raise RuntimeError("no Chromium found: install Debian's chromium package (.ci/services)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The application, served on 127.0.0.1 for the length of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts: ``new_page(locale="de-DE")``."""
    contexts = []

    def make(locale: str = "en-US") -> Page:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot named after the test and the page."""

    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        path = SCREENSHOTS / f"{test}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
