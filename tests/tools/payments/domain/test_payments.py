"""Payments in the domain: forward-only statuses, references derived from the payment's id, and vendor
events reduced to what a payment needs."""

from __future__ import annotations

import itertools
import uuid

import pytest

from tools.payments.domain.payments import (
    RANK,
    PaymentKind,
    PaymentStatus,
    advance,
    effect_of,
    gateway_reference,
    parse_reference,
    paystack_event,
    stripe_event,
    verified_status,
)

S = PaymentStatus


def test_reference_is_derived_from_the_payment_id_and_parses_back() -> None:
    pid = uuid.uuid4()
    reference = gateway_reference(PaymentKind.DISBURSEMENT, pid)
    assert reference == f"caas-disbursement-{pid}"
    assert gateway_reference(PaymentKind.DISBURSEMENT, pid) == reference  # the same every retry
    assert parse_reference(reference) == (PaymentKind.DISBURSEMENT, pid)
    assert parse_reference(gateway_reference(PaymentKind.COLLECTION, pid)) == (PaymentKind.COLLECTION, pid)


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "trf-123",
        "caas-refund-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        "caas-disbursement-not-a-uuid",
        "x" * 300,
    ],
)
def test_references_that_are_not_ours_do_not_parse(reference: str) -> None:
    assert parse_reference(reference) is None


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.REQUESTED, S.SENT),
        (S.REQUESTED, S.SUCCEEDED),
        (S.REQUESTED, S.FAILED),
        (S.SENT, S.SUCCEEDED),
        (S.SENT, S.FAILED),
        (S.SENT, S.REVERSED),
        (S.FAILED, S.SUCCEEDED),  # a definite success means the money moved after all
    ],
)
def test_a_payment_moves_forward(current: PaymentStatus, target: PaymentStatus) -> None:
    assert advance(current, target).apply


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.SUCCEEDED, S.FAILED),
        (S.SUCCEEDED, S.REVERSED),
        (S.SUCCEEDED, S.SENT),
        (S.FAILED, S.SENT),
        (S.FAILED, S.REVERSED),
        (S.REVERSED, S.FAILED),
        (S.SENT, S.REQUESTED),
        (S.SUCCEEDED, S.SUCCEEDED),
    ],
)
def test_a_payment_never_moves_backwards_or_sideways(current: PaymentStatus, target: PaymentStatus) -> None:
    move = advance(current, target)
    assert not move.apply
    assert move.reason


def test_every_applied_move_raises_the_rank_so_any_order_of_events_ends_in_one_state() -> None:
    for current, target in itertools.product(S, S):
        assert advance(current, target).apply == (RANK[target] > RANK[current])
    # Whatever order success and failure arrive in, the payment ends succeeded.
    for order in itertools.permutations([S.SENT, S.SUCCEEDED, S.FAILED]):
        status = S.REQUESTED
        for event in order:
            if advance(status, event).apply:
                status = event
        assert status is S.SUCCEEDED


def test_verification_statuses_map_onto_payment_statuses() -> None:
    assert verified_status("success") is S.SUCCEEDED
    assert verified_status("failed") is S.FAILED
    assert verified_status("pending") is S.SENT


def test_events_say_which_kind_of_payment_they_move_and_where() -> None:
    assert effect_of("transfer.success") is not None
    success = effect_of("transfer.success")
    assert success is not None and (success.kind, success.target) == (PaymentKind.DISBURSEMENT, S.SUCCEEDED)
    reversed_ = effect_of("transfer.reversed")
    assert reversed_ is not None and reversed_.target is S.REVERSED
    charge = effect_of("charge.success")
    assert charge is not None and (charge.kind, charge.target) == (PaymentKind.COLLECTION, S.SUCCEEDED)
    assert effect_of("customeridentification.success") is None


def test_paystack_event_is_deduped_on_event_and_data_id() -> None:
    event = paystack_event(
        {
            "event": "transfer.success",
            "data": {
                "id": 42,
                "reference": "caas-x",
                "amount": 2450000,
                "currency": "NGN",
                "status": "success",
            },
        }
    )
    assert event.event_id == "transfer.success:42"
    assert (event.event_type, event.reference, event.amount_minor, event.currency) == (
        "transfer.success",
        "caas-x",
        2450000,
        "NGN",
    )


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"event": "transfer.success"},
        {"event": "", "data": {"id": 1}},
        {"event": "transfer.success", "data": {"reference": "r"}},
        {"event": "transfer.success", "data": {"id": 1, "amount": "100.00"}},
        {"event": "transfer.success", "data": {"id": 1, "amount": -5}},
        {"event": "transfer.success", "data": {"id": 1, "currency": "naira"}},
        {"event": "transfer.success", "data": {"id": True}},
    ],
)
def test_paystack_bodies_that_are_not_events_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        paystack_event(body)


def test_stripe_event_maps_onto_the_paystack_names_and_finds_the_reference_in_metadata() -> None:
    event = stripe_event(
        {
            "id": "evt_123",
            "type": "payout.paid",
            "data": {"object": {"amount": 5000, "currency": "usd", "metadata": {"reference": "caas-y"}}},
        }
    )
    assert (event.event_id, event.event_type, event.reference, event.amount_minor, event.currency) == (
        "evt_123",
        "transfer.success",
        "caas-y",
        5000,
        "USD",
    )
    charge = stripe_event({"id": "evt_9", "type": "charge.succeeded", "data": {"object": {"reference": "r"}}})
    assert charge.event_type == "charge.success"
    assert (
        stripe_event({"id": "e", "type": "charge.failed", "data": {"object": {}}}).event_type
        == "charge.failed"
    )


def test_stripe_bodies_without_an_id_or_type_are_refused() -> None:
    with pytest.raises(ValueError):
        stripe_event({"type": "payout.paid", "data": {"object": {}}})
    with pytest.raises(ValueError):
        stripe_event({"id": "evt", "data": {"object": {}}})
    with pytest.raises(ValueError):
        stripe_event({"id": "evt", "type": "payout.paid", "data": {"object": []}})
