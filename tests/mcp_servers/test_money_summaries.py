"""The sentence a borrower confirms before accept_offer says what compare_offers shows for that offer,
word for word, but builds that one offer's schedule and APR alone (issue 14: the comparison's every
offer was built again for the question)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from mcp_servers.money_summaries import summarize
from tests.fakes.builders import as_, bid, open_for_bids, provider
from tests.fakes.deps import marketplace_deps
from tests.fakes.store import FakeStore
from tools.marketplace import offers
from tools.marketplace.models.bids import OfferComparison
from tools.platform.errors import DomainError
from tools.platform.models import Money
from tools.platform.principal import Principal, Role


def _money(m: Money) -> str:
    return f"{m.amount} {m.currency}"


def _from_comparison(comparison: OfferComparison, bid_id: str) -> str:
    """The sentence as it was made from the whole comparison (the reference this one must equal)."""
    for offer in comparison.offers:
        if str(offer.bid.id) == bid_id:
            b = offer.bid
            return (
                f"Accept {b.provider_name}'s offer on application {comparison.reference}: borrow "
                f"{_money(b.amount)} over {b.term_months} months at APR {offer.apr_percent}% "
                f"(finance charge {_money(offer.finance_charge)}, total of payments "
                f"{_money(offer.total_of_payments)}, installment {_money(offer.installment)})"
            )
    return f"Accept bid {bid_id} on application {comparison.reference} (not among the live offers)"


async def test_the_accept_question_is_the_comparisons_figures_for_that_offer_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore()
    app = await open_for_bids(store, currency="GHS")
    a, b, c, d, e = (provider(store, currency="GHS") for _ in range(5))
    offered = [
        bid(store, app, a),
        bid(store, app, b, annual_rate="0.22", fee_minor=500_000),
        bid(store, app, c, annual_rate="0.20", schedule_method="flat"),
        bid(store, app, d, annual_rate="0.18", valid_for=timedelta(minutes=30)),  # lapses below
        bid(store, app, e, annual_rate="0.19"),  # its provider is suspended below
    ]
    store.tables.providers[e.id] = replace(e, status="suspended")
    store.clock.move(hours=1)
    tiny = bid(store, app, provider(store, currency="GHS"), amount_minor=10)  # makes no schedule
    deps = SimpleNamespace(marketplace=marketplace_deps(store))
    borrower: Principal = as_(app.borrower_id, Role.BORROWER).principal
    comparison = await offers.compare_offers(deps.marketplace, borrower, app.reference)
    assert len(comparison.offers) == 3 and len(comparison.excluded) == 3

    built: list[Any] = []
    real = offers.offer_figures

    def counted(terms: Any, as_of: Any) -> Any:
        built.append(terms)
        return real(terms, as_of)

    monkeypatch.setattr(offers, "offer_figures", counted)
    # A live offer's schedule is built once (the tiny one's fails to build); a lapsed or suspended
    # offer's is not built at all.
    for one, schedules in zip([*offered, tiny], [1, 1, 1, 0, 0, 1], strict=True):
        built.clear()
        args = {"application": app.reference, "bid": str(one.id), "idempotency_key": "k-1"}
        said = await summarize("accept_offer", deps, borrower, args)
        assert said == _from_comparison(comparison, str(one.id))
        assert len(built) == schedules
    built.clear()
    args = {"application": str(app.id), "bid": "not-a-bid", "idempotency_key": "k-1"}
    assert await summarize("accept_offer", deps, borrower, args) == _from_comparison(comparison, "not-a-bid")
    assert built == []
    # Whoever may not see the application is refused first, even for an action with no bid argument
    # (one asked before the argument's rename), as compare_offers refused them.
    stranger: Principal = as_("someone-else", Role.BORROWER).principal
    with pytest.raises(DomainError) as refused:
        await summarize("accept_offer", deps, stranger, {"application": app.reference, "bid_id": "x"})
    assert refused.value.code == "not_found"
