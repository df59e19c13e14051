"""The dashboards in a real browser: Debian's headless Chromium, driven by Playwright (its Python package;
the browser is never downloaded), against the composed server over real HTTP on loopback.

Each test opens a page as a person would (the page, the sign-in form, a bearer token) and sets up the
rest of the market through the MCP client and ``principal`` fixtures like every other test. Every page
opened is saved as a screenshot under ``CAAS_SCREENSHOTS`` (default ``artifacts/screenshots``), and a
test fails if its page threw a JavaScript error or broke its Content-Security-Policy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from mcp_servers.runtime import Runtime
from tests.helpers.common import REPO_ROOT, serving
from tests.mcp_servers.test_subscriptions import served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_HAVE_CHROMIUM = Path(CHROMIUM).exists()
SCREENSHOTS = Path(os.environ.get("CAAS_SCREENSHOTS") or REPO_ROOT / "artifacts" / "screenshots")
# Not the machine's zone or language: the pages must show times and money in the viewer's own.
VIEWER_ZONE = "America/New_York"
VIEWER_LOCALE = "en-US"

OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture(scope="module")
async def site(runtime: Runtime) -> AsyncIterator[str]:
    """The composed server as `caas serve` runs it (stateless HTTP), on a free loopback port."""
    async with serving(served(runtime, sessions=False)) as url:
        yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _HAVE_CHROMIUM:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium (.ci/run does)")
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def open_page(browser: Browser, site: str) -> AsyncIterator[OpenPage]:
    """``await open_page("/provider/", token)``: a new browser (its own storage) on that page, signed in."""
    contexts: list[Any] = []
    problems: list[str] = []

    async def open_(path: str, token: str, *, zone: str = VIEWER_ZONE, locale: str = VIEWER_LOCALE) -> Page:
        context = await browser.new_context(timezone_id=zone, locale=locale)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"{path}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                problems.append(f"{path}: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        await page.goto(site + path)
        await page.get_by_label("Access token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert not problems, problems


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``<name>.png`` in the screenshots folder (kept as CI artefacts)."""
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # Playwright makes the folder
    return path
