"""preview_bid through a real MCP client on real PostgreSQL: the figures a lender sees while drafting are
compare_offers' own for the same terms (to the minor unit), place_bid's rules are reported as problems,
malformed terms are refused like place_bid refuses them, and only an invited provider may preview."""

from __future__ import annotations

from typing import Any

from fastmcp import Client

from tests.helpers.bidding import (
    COMPARE,
    as_borrower,
    as_provider,
    bid_body,
    call,
    market,
    place,
    refused,
    uid,
)
from tests.helpers.markets import Countries
from tools.platform.principal import Role

PREVIEW = "providers_preview_bid"
FIGURES = (
    "apr",
    "apr_percent",
    "amount_financed",
    "finance_charge",
    "total_of_payments",
    "installments",
    "installment",
    "largest_installment",
)


def draft(**overrides: Any) -> dict[str, Any]:
    """bid_body's terms without what a preview does not take (valid_until is optional)."""
    terms = bid_body(**overrides)
    terms.pop("valid_until")
    return terms


async def test_the_preview_shows_compare_offers_own_figures_for_the_same_terms(
    client: Client, principal: Any, country: str
) -> None:
    app, (a, b, c) = await market(client, principal, country)
    terms = [
        {"annual_rate": "0.24"},
        {"annual_rate": "0.22", "origination_fee": "5000.00"},
        {"annual_rate": "0.20", "schedule_method": "flat", "amount": "200000.00", "term_months": 18},
    ]
    previews: dict[str, dict[str, Any]] = {}
    for provider, t in zip((a, b, c), terms, strict=True):
        as_provider(principal, provider)
        previews[provider] = await call(client, PREVIEW, {"application": app["reference"], "bid": draft(**t)})
        assert previews[provider]["fits"] is True and previews[provider]["problems"] == []
        await place(client, principal, app, provider, **t)
    as_borrower(principal, app)
    offers = (await call(client, COMPARE, {"application": app["id"]}))["offers"]
    assert len(offers) == 3
    for offer in offers:
        shown = previews[offer["bid"]["provider_id"]]
        assert {k: shown[k] for k in FIGURES} == {k: offer[k] for k in FIGURES}
    # The figures test_offers.py works out by hand for the first terms (250000.00 GHS, 24%, 12 months).
    first = previews[a]
    assert first["apr_percent"] == "24.00"
    assert first["installment"] == {"amount": "23639.90", "currency": "GHS"}
    assert first["finance_charge"] == {"amount": "33678.79", "currency": "GHS"}
    assert previews[b]["apr_percent"] == "25.95"  # the fee raises the APR above the 22% nominal rate


async def test_terms_place_bid_would_refuse_are_listed_as_problems_with_the_figures(
    client: Client, principal: Any, country: str
) -> None:
    app, (a, *_) = await market(client, principal, country)
    as_provider(principal, a)
    over = await call(
        client,
        PREVIEW,
        {"application": app["id"], "bid": draft(amount="300000.00", annual_rate="0.45", term_months=48)},
    )
    assert over["fits"] is False and over["apr_percent"] == "45.00"  # no fee: the nominal rate
    fields = sorted(p.split(":")[0] for p in over["problems"])
    assert fields == ["amount", "annual_rate", "term_months"], over["problems"]
    assert "300000.00 GHS is more than the 250000.00 GHS requested" in over["problems"][0]
    stale = await call(
        client, PREVIEW, {"application": app["id"], "bid": {**draft(), "valid_until": "2020-01-01T00:00:00Z"}}
    )
    assert stale["problems"] == ["valid_until: must be in the future"]


async def test_malformed_terms_are_refused_like_place_bid_refuses_them(
    client: Client, principal: Any, country: str
) -> None:
    app, (a, *_) = await market(client, principal, country)
    as_provider(principal, a)
    for bad in (
        {**draft(), "colour": "red"},  # unknown field
        draft(amount="100.001"),  # more decimals than GHS has
        draft(amount="-5"),
        draft(annual_rate="6"),  # a fraction: at most 5 (500%)
        draft(annual_rate="0.1234567"),
        draft(term_months=0),
        draft(currency="ghs1"),
        draft(origination_fee="250000.00"),  # nothing financed: no APR to show
    ):
        code = await refused(client, PREVIEW, {"application": app["id"], "bid": bad})
        assert code == "invalid_argument", bad
    wrong = await call(client, PREVIEW, {"application": app["id"], "bid": draft(currency="USD")})
    assert wrong["problems"][0].startswith("currency: the application is in GHS")


async def test_only_an_invited_provider_previews_and_other_roles_are_refused(
    client: Client, principal: Any, country: str, countries: Countries
) -> None:
    app, _ = await market(client, principal, country, lenders=1)
    other, (outsider,) = await market(client, principal, countries.claim(), lenders=1)
    as_provider(principal, outsider)  # invited to the other application only
    assert await refused(client, PREVIEW, {"application": app["id"], "bid": draft()}) == "not_found"
    assert (await call(client, PREVIEW, {"application": other["id"], "bid": draft()}))["fits"] is True
    for role in (Role.BORROWER, Role.OPERATOR, Role.ADMIN):
        principal(uid("not-a-lender"), role)
        code = await refused(client, PREVIEW, {"application": app["id"], "bid": draft()})
        assert code == "permission_denied", role
