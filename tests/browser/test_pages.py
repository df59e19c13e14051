"""What every page does before any section of its own: it signs in with a bearer token, calls its tools
as that principal, and shows a refused or expired token as the sign-in form again."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser.conftest import OpenPage
from tests.helpers.common import make_jwt

PAGES = ("/app/", "/admin/", "/provider/")


async def test_each_page_is_served_with_a_policy_that_allows_only_its_own_script(site: str) -> None:
    async with httpx.AsyncClient() as http:
        for path in PAGES:
            answer = await http.get(site + path)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "connect-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
            moved = await http.get(site + path.rstrip("/"))
            assert moved.status_code == 308 and moved.headers["location"] == path


async def test_a_refused_token_brings_the_sign_in_form_back_with_the_reason(open_page: OpenPage) -> None:
    # The console's own first calls are refused: it forgets the token and asks for one again, saying why.
    page = await open_page("/admin/", "not-a-token")
    await expect(page.get_by_label("Access token")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("sign in again")
    # Signed in again, the page works and its live feed follows with the new token, without a reload.
    await page.get_by_label("Access token").fill(make_jwt("web-again", role="operator"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live-state")).to_contain_text("Live")
    await expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


async def test_a_signed_in_page_calls_tools_as_its_principal_and_shows_their_errors(
    open_page: OpenPage,
) -> None:
    operator = await open_page("/admin/", make_jwt("web-operator", role="operator"))
    queue = await operator.evaluate("caas.tool('credit_list_review_queue', {})")
    assert set(queue) == {"items", "next_cursor"}  # a queue other tests share
    refused = await operator.evaluate(
        "caas.tool('providers_place_bid', {}).catch((e) => [e.code, e.message])"
    )
    assert refused[0] == "permission_denied" and "signed in as operator" in refused[1]


async def test_a_reload_keeps_the_tab_signed_in_and_sign_out_forgets_the_token(open_page: OpenPage) -> None:
    for path in PAGES:
        page = await open_page(path, make_jwt("web-reload", role="admin"))
        content = page.locator("#content")
        await expect(content).to_be_visible()
        await page.reload()
        await expect(content).to_be_visible()
        await expect(page.get_by_label("Access token")).to_be_hidden()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("Access token")).to_be_visible()
        await expect(content).to_be_hidden()
