"""The market across three people's pages at once, in real Chromium: a lender bids from its dashboard and
the borrower's open page shows the offer without a reload, while a second lender's dashboard and live
feed never show the first one's bid; the borrower accepts the offer and confirms it."""

from __future__ import annotations

from typing import Any

from fastmcp import Client
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, screenshot
from tests.helpers.bidding import market
from tests.helpers.common import make_jwt

_NO_RELOAD = "window.caasSamePage = 'yes'"


async def watch_live(page: Page) -> None:
    """Keeps every live event the page is told in window.told (a second listener beside the page's)."""
    await page.evaluate("window.told = []; caas.live((e) => window.told.push(e))")


async def test_a_bid_from_the_dashboard_reaches_the_borrower_live_and_never_the_other_lender(
    open_page: OpenPage, client: Client, principal: Any, country: str
) -> None:
    app, (first, second) = await market(client, principal, country, lenders=2)
    reference = app["reference"]
    borrower = await open_page("/app/", make_jwt(app["borrower_id"]))
    lender = await open_page("/provider/", make_jwt("lender-one", role="provider", provider_id=first))
    rival = await open_page("/provider/", make_jwt("lender-two", role="provider", provider_id=second))
    offers = borrower.get_by_role("region", name="Offers")
    await expect(borrower.get_by_label("Application status")).to_be_visible()
    await borrower.evaluate(_NO_RELOAD)
    await watch_live(rival)

    invitation = lender.get_by_role("row").filter(has_text=reference)
    await invitation.get_by_role("button", name="Bid…").click()
    await lender.get_by_label("Annual rate (%)").fill("21.5")
    await lender.get_by_label("Fee").fill("1000.00")
    await lender.get_by_role("button", name="Place bid").click()
    await lender.get_by_role("button", name="Yes, place it").click()
    your_bids = lender.get_by_role("region", name="Your bids")
    await expect(your_bids.get_by_role("row").filter(has_text=reference)).to_have_count(1)

    # The borrower's page, untouched since it opened, now lists the offer: pushed, not reloaded.
    offer = offers.get_by_role("row").filter(has_text="%")
    await expect(offer).to_have_count(1)
    assert await borrower.evaluate("window.caasSamePage") == "yes"
    await screenshot(lender, "journey-lender-bid-placed")
    await screenshot(borrower, "journey-borrower-offer-live")

    # The other lender: its own invitation is there, the first lender's bid is not, on the page or the feed.
    await expect(rival.get_by_role("row").filter(has_text=reference).first).to_be_visible()
    await expect(
        rival.get_by_role("region", name="Your bids").get_by_role("row").filter(has_text=reference)
    ).to_have_count(0)
    told = await rival.evaluate("window.told")
    assert all(event["entity"] != "bid" for event in told), told
    await screenshot(rival, "journey-second-lender")

    await offer.get_by_role("button", name="Accept…").click()
    await borrower.get_by_role("button", name="Yes, accept it").click()
    # The server's own question (the confirmation flow), with its summary, answered by the person.
    await borrower.get_by_role("button", name="Yes, confirm it").click()
    await expect(borrower.get_by_label("Application status")).to_contain_text("accepted")
    assert await borrower.evaluate("window.caasSamePage") == "yes"
    await screenshot(borrower, "journey-borrower-accepted")
