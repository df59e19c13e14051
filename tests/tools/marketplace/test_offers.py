"""compare_offers and accept_offer on the in-memory fakes: the ranking and its exclusions, the atomic
acceptance (other bids settled, capital reserved in the provider row and a reservation journal, the
application offer_accepted, audit and events), idempotency and every refusal changing nothing.
What only PostgreSQL proves (fifty acceptances racing, the partial unique index) and the tools' roles
stay in tests/mcp_servers/marketplace/test_offers.py.

The three offers on 250000.00 GHS over 12 months (figures from the domain rules):
  A  24% annuity, no fee:       APR 24.00%, total cost of credit 33678.79, installment 23639.90
  B  22% annuity, 5000.00 fee:  APR 25.95% (the fee raises it above the 22% nominal rate)
  C  20% flat, no fee:          APR 35.07% (the lowest nominal rate, charged on the whole principal)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from tests.fakes.builders import as_, bid, open_for_bids, provider, uid
from tests.fakes.deps import marketplace_deps
from tests.fakes.store import FakeStore
from tools.credit.domain.applications import ApplicationRecord
from tools.ledger.domain.chart import account
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.models.bids import AcceptedOffer
from tools.marketplace.offers import accept_offer, compare_offers
from tools.platform.errors import DomainError
from tools.platform.principal import Role

AMOUNT_MINOR = 25_000_000


async def market(store: FakeStore, lenders: int = 3) -> tuple[ApplicationRecord, list[ProviderRecord]]:
    app = await open_for_bids(store, currency="GHS")
    return app, [provider(store, currency="GHS") for _ in range(lenders)]


async def three_offers(store: FakeStore) -> tuple[ApplicationRecord, list[ProviderRecord], list[BidRecord]]:
    """A, B and C of the module docstring, placed C first and A last."""
    app, (a, b, c) = await market(store)
    offer_c = bid(store, app, c, annual_rate="0.20", schedule_method="flat")
    offer_b = bid(store, app, b, annual_rate="0.22", fee_minor=500_000)
    offer_a = bid(store, app, a)
    return app, [a, b, c], [offer_a, offer_b, offer_c]


async def accept(
    store: FakeStore, app: ApplicationRecord, bid_id: UUID, key: str | None = None, handle: str | None = None
) -> AcceptedOffer:
    call = as_(app.borrower_id, Role.BORROWER)
    return await accept_offer(marketplace_deps(store), call, handle or str(app.id), bid_id, key or uid("key"))


async def refused(store: FakeStore, app: ApplicationRecord, bid_id: UUID, key: str | None = None) -> str:
    """The error code of a refused acceptance, after checking that it changed nothing at all."""
    tables, commits = store.tables, store.commits
    with pytest.raises(DomainError) as exc:
        await accept(store, app, bid_id, key)
    assert store.tables is tables and store.commits == commits
    return exc.value.code


async def test_offers_rank_by_apr_with_their_disclosed_figures_and_why() -> None:
    store = FakeStore()
    app, (a, b, _), (bid_a, bid_b, bid_c) = await three_offers(store)
    borrower = as_(app.borrower_id, Role.BORROWER).principal
    comparison = await compare_offers(marketplace_deps(store), borrower, app.reference)
    offers = comparison.offers
    assert [o.bid.id for o in offers] == [bid_a.id, bid_b.id, bid_c.id]
    assert [o.rank for o in offers] == [1, 2, 3] and comparison.best_bid_id == bid_a.id
    assert [str(o.apr_percent) for o in offers] == ["24.00", "25.95", "35.07"]
    assert (str(offers[0].apr), str(offers[1].apr)) == ("0.240000", "0.259472")
    assert (str(offers[0].installment.amount), str(offers[0].finance_charge.amount)) == (
        "23639.90",
        "33678.79",
    )
    assert str(offers[1].amount_financed.amount) == "245000.00"
    assert (str(offers[2].installment.amount), str(offers[2].finance_charge.amount)) == (
        "25000.00",
        "50000.00",
    )
    assert comparison.explanation.startswith(f"{a.name} is best of 3 live offers: a lower APR: 24.00%")
    assert f"against 25.95% for {b.name}" in comparison.explanation
    assert "a lower APR: 25.95% against 35.07%" in offers[2].why
    assert comparison.excluded == []


async def test_equal_aprs_rank_by_total_cost_then_the_earlier_bid_and_dead_offers_are_listed_apart() -> None:
    store = FakeStore()
    app, (a, b, c, d, e) = await market(store, lenders=5)
    annuity = bid(store, app, a)
    store.clock.move(seconds=1)
    declining = bid(store, app, b, schedule_method="declining_balance")
    store.clock.move(seconds=1)
    same_as_a = bid(store, app, c)
    lapsing = bid(store, app, d, annual_rate="0.18", valid_for=timedelta(minutes=30))
    held = bid(store, app, e, annual_rate="0.19")
    store.tables.providers[e.id] = replace(e, status="suspended")
    store.clock.move(hours=1)
    comparison = await compare_offers(
        marketplace_deps(store), as_(uid("op"), Role.OPERATOR).principal, str(app.id)
    )
    assert [o.bid.id for o in comparison.offers] == [declining.id, annuity.id, same_as_a.id]
    assert "the same APR (24.00%)" in comparison.explanation
    assert "lower total cost of credit: GH₵32,500.00 against GH₵33,678.79" in comparison.explanation
    assert [(x.bid_id, x.reason.split(" at ")[0]) for x in comparison.excluded] == [
        (lapsing.id, "it expired"),
        (held.id, "its provider is suspended"),
    ]


async def test_a_stored_bid_whose_terms_make_no_schedule_is_excluded_with_the_reason() -> None:
    # 0.10 GHS over 12 installments: the rounded installments repay it before the last one, so no
    # schedule exists (a bid placed before today's rules could be such): shown as excluded, not an error.
    store = FakeStore()
    app, (a, b, _) = await market(store)
    good = bid(store, app, a)
    tiny = bid(store, app, b, amount_minor=10)
    comparison = await compare_offers(
        marketplace_deps(store), as_(app.borrower_id, Role.BORROWER).principal, str(app.id)
    )
    assert [o.bid.id for o in comparison.offers] == [good.id]
    assert [(x.bid_id, x.reason.split(":")[0]) for x in comparison.excluded] == [
        (tiny.id, "its terms make no repayment schedule")
    ]


async def test_comparing_is_for_an_application_open_for_bids_that_you_can_see() -> None:
    store = FakeStore()
    app, _, (bid_a, *_) = await three_offers(store)
    deps = marketplace_deps(store)
    with pytest.raises(DomainError) as stranger:
        await compare_offers(deps, as_(uid("b"), Role.BORROWER).principal, str(app.id))
    await accept(store, app, bid_a.id)
    with pytest.raises(DomainError) as closed:
        await compare_offers(deps, as_(app.borrower_id, Role.BORROWER).principal, str(app.id))
    assert (stranger.value.code, closed.value.code) == ("not_found", "conflict")


async def test_accepting_settles_every_bid_reserves_the_capital_and_moves_the_application() -> None:
    store = FakeStore()
    app, (a, b, c), (bid_a, bid_b, bid_c) = await three_offers(store)
    short = bid(store, app, provider(store, currency="GHS"), valid_for=timedelta(minutes=30))
    waiting = provider(store, currency="GHS")
    store.tables.invitations[app.id, waiting.id] = "invited"
    store.clock.move(hours=1)

    accepted = await accept(store, app, bid_a.id)
    assert (accepted.application_status, accepted.replayed, accepted.accepted.id) == (
        "offer_accepted",
        False,
        bid_a.id,
    )
    assert accepted.accepted.status == "accepted" and str(accepted.capital_reserved.amount) == "250000.00"
    assert {(o.bid_id, o.status.value) for o in accepted.other_bids} == {
        (bid_b.id, "rejected"),
        (bid_c.id, "rejected"),
        (short.id, "expired"),
    }
    tables = store.tables
    assert tables.bids[bid_a.id].accepted_at == store.clock.now()
    assert tables.providers[a.id].capital_available_minor == a.capital_available_minor - AMOUNT_MINOR
    assert [tables.providers[p.id] for p in (b, c)] == [b, c]
    [journal] = store.journals_of("reservation", bid_a.id)
    assert journal.id == accepted.reservation_journal_id
    reserved = account("provider", "capital_reserved", "GHS", str(a.id))
    available = account("provider", "capital_available", "GHS", str(a.id))
    assert (store.balance(reserved), store.balance(available)) == (AMOUNT_MINOR, -AMOUNT_MINOR)
    assert (tables.invitations[app.id, waiting.id], tables.providers[waiting.id].decided_count) == (
        "expired",
        1,
    )
    assert tables.rounds[app.id].closed_at == store.clock.now()

    moved = tables.applications[app.id]
    last = tables.application_transitions[app.id][-1]
    assert (moved.status, last.from_status, last.to_status, last.actor_id) == (
        "offer_accepted",
        "open_for_bids",
        "offer_accepted",
        app.borrower_id,
    )
    assert str(bid_a.id) in last.reason
    kinds = store.event_types()
    assert (kinds.count("offer.accepted"), kinds.count("bid.rejected"), kinds.count("bid.expired")) == (
        1,
        2,
        1,
    )
    assert "application.offer_accepted" in kinds
    audited = {(r.object_type, r.object_id) for r in store.audit}
    assert {("bid", str(bid_a.id)), ("application", str(app.id)), ("journal", str(journal.id))} <= audited


async def test_the_same_key_replays_the_acceptance_and_other_arguments_are_a_conflict() -> None:
    store = FakeStore()
    app, _, (bid_a, bid_b, _) = await three_offers(store)
    key = uid("key")
    accepted = await accept(store, app, bid_a.id, key)
    replay = await accept(store, app, bid_a.id, key, handle=app.reference)  # named by reference this time
    assert replay == accepted.model_copy(update={"replayed": True})
    assert await refused(store, app, bid_b.id, key) == "conflict"
    assert await refused(store, app, bid_b.id) == "conflict"  # accepting twice, with a new key
    assert len(store.journals_of("reservation")) == 1


async def test_withdrawn_superseded_expired_and_foreign_bids_are_refused_and_change_nothing() -> None:
    store = FakeStore()
    app, (a, b, c) = await market(store)
    withdrawn, superseded = bid(store, app, a), bid(store, app, b)
    store.tables.bids[withdrawn.id] = replace(withdrawn, status="withdrawn")
    store.tables.bids[superseded.id] = replace(superseded, status="superseded")
    lapsing = bid(store, app, c, valid_for=timedelta(minutes=30))
    store.clock.move(hours=1)
    elsewhere = await open_for_bids(store, currency="GHS")
    foreign = bid(store, elsewhere, provider(store, currency="GHS"))
    for offer, code in (
        (withdrawn, "conflict"),
        (superseded, "conflict"),
        (lapsing, "conflict"),
        (foreign, "not_found"),
    ):
        assert await refused(store, app, offer.id) == code, offer.status
    assert await refused(store, app, uuid4()) == "not_found"
    with pytest.raises(DomainError) as theirs:  # someone else's application reads as missing
        await accept_offer(
            marketplace_deps(store), as_(uid("b"), Role.BORROWER), str(app.id), foreign.id, "k-1"
        )
    assert theirs.value.code == "not_found"
    assert store.tables.applications[app.id].status == "open_for_bids"


async def test_an_application_no_longer_open_for_bids_accepts_no_offer() -> None:
    store = FakeStore()
    app, (a,) = await market(store, lenders=1)
    live = bid(store, app, a)
    for status in ("withdrawn", "expired"):
        store.tables.applications[app.id] = replace(app, status=status)
        assert await refused(store, app, live.id) == "conflict", status


async def test_a_suspended_or_underfunded_lenders_offer_is_refused_and_changes_nothing() -> None:
    store = FakeStore()
    app, (a, b) = await market(store, lenders=2)
    held, dear = bid(store, app, a), bid(store, app, b)
    store.tables.providers[a.id] = replace(a, status="suspended")
    store.tables.providers[b.id] = replace(b, capital_available_minor=AMOUNT_MINOR - 1)
    assert await refused(store, app, held.id) == "conflict"
    assert await refused(store, app, dear.id, "same-key") == "conflict"
    assert "same-key" not in {k for (_, _, k) in store.tables.idempotency_keys}  # no key left behind
    assert store.journals_of("reservation") == []
