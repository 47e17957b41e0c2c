"""Browser tests: the real server on a free port, Debian's Chromium driven by Playwright.

Chromium comes from Debian (``/usr/bin/chromium``; ``.ci/run`` installs it); Playwright downloads
nothing. Tests skip with a clear reason where Chromium is not installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer

CHROMIUM = os.environ.get("HALL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def live(hall) -> Iterator[LiveServer]:
    with LiveServer(hall.app) as srv:
        yield srv


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One Chromium for the browser tests, closed when they are done: Playwright's sync API keeps
    an event loop running in this thread meanwhile, which asyncio tests elsewhere cannot share."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """``new_page(width, height)`` opens a fresh page (own context) and closes it after the test."""
    contexts = []

    def make(width: int = 1280, height: int = 800, **kw: object):
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", **kw)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def screenshot(page, name: str) -> None:
    """Save a screenshot for the README (docs/<name>.png)."""
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"))
