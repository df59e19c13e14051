"""Each page, signed in and filled, checked in the browser for what WCAG asks of it most often: every
form control has a label, every button a name, the keyboard reaches every control, and text contrasts
with what is behind it at 4.5:1 or more, in the light scheme and in the dark one."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.browser.conftest import OpenPage
from tests.helpers.common import make_jwt

PAGES = {
    "/app/": lambda: make_jwt("a11y-borrower"),
    "/admin/": lambda: make_jwt("a11y-operator", role="operator"),
    "/provider/": lambda: make_jwt("a11y-lender", role="provider", provider_id="a11y-lender"),
}

_AUDIT = (Path(__file__).parent / "a11y_audit.js").read_text(encoding="utf-8")


async def reachable_by_keyboard(page: Page) -> set[str]:
    """The visible controls Tab reaches, by their outer HTML's start."""
    reached: set[str] = set()
    for _ in range(200):
        await page.keyboard.press("Tab")
        reached.add(
            await page.evaluate("document.activeElement ? document.activeElement.outerHTML.slice(0, 80) : ''")
        )
    return reached


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", list(PAGES))
async def test_each_page_is_labelled_reachable_by_keyboard_and_legible(
    open_page: OpenPage, path: str, scheme: str
) -> None:
    page = await open_page(path, PAGES[path]())
    await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    await page.wait_for_load_state("networkidle")
    audit = await page.evaluate(_AUDIT)
    assert audit == {"unlabelled": [], "unnamed": [], "poor": []}, audit
    controls = await page.evaluate(
        "[...document.querySelectorAll('button, input, select, textarea, a[href]')]"
        ".filter((e) => e.offsetParent !== null && !e.disabled).map((e) => e.outerHTML.slice(0, 80))"
    )
    missing = set(controls) - await reachable_by_keyboard(page)
    assert not missing, missing
