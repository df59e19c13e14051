"""Payment allocation (fees -> interest -> principal, then prepayment) and early-settlement quotes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.loans.domain.repayments import (
    Allocation,
    AllocationOrder,
    Component,
    LoanTerms,
    Outstanding,
    Prepay,
    accrued_interest,
    allocate_payment,
    quote_early_settlement,
)
from tools.loans.domain.schedules import build_schedule

AS_OF = date(2025, 4, 10)


def loan_from_installment_3() -> list[Outstanding]:
    """N100,000.00 at 24% over 12 months (test_schedules) with installments 1-2 paid; installment 3,
    due 31 March, is unpaid and carries a N5,000.00 late fee; 4-12 are not yet due."""
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31))
    items = [
        Outstanding(line.number, line.due_date, 0, line.interest, line.principal)
        for line in schedule.installments
    ]
    items[2] = Outstanding(3, date(2025, 3, 31), 500_000, 169_878, 775_718)
    return items[2:]


def test_a_partial_payment_goes_to_the_late_fee_then_interest_then_principal() -> None:
    allocation = allocate_payment(800_000, loan_from_installment_3(), AS_OF, "NGN")
    assert [line.explanation for line in allocation.lines] == [
        "₦5,000.00 to the late fee of installment 3",
        "₦1,698.78 to the interest of installment 3",
        "₦1,301.22 to the principal of installment 3",  # 800,000 - 500,000 - 169,878 = 130,122
    ]
    assert (allocation.to_fees, allocation.to_interest, allocation.to_principal) == (
        500_000,
        169_878,
        130_122,
    )
    assert allocation.remaining[0] == Outstanding(3, date(2025, 3, 31), 0, 0, 775_718 - 130_122)
    assert allocation.prepaid_principal == allocation.credit == 0
    assert not allocation.paid_off


def test_oldest_installment_first_or_each_component_across_installments() -> None:
    due = [
        Outstanding(1, date(2025, 2, 28), fees=1_000, interest=2_000, principal=10_000),
        Outstanding(2, date(2025, 3, 31), fees=1_000, interest=1_800, principal=10_200),
    ]
    by_installment = allocate_payment(14_000, due, AS_OF, "USD")
    # Installment 1 in full (1,000 + 2,000 + 10,000 = 13,000), then 1,000 to installment 2's late fee.
    assert [(line.component, line.installment, line.amount) for line in by_installment.lines] == [
        (Component.FEE, 1, 1_000),
        (Component.INTEREST, 1, 2_000),
        (Component.PRINCIPAL, 1, 10_000),
        (Component.FEE, 2, 1_000),
    ]
    by_component = allocate_payment(14_000, due, AS_OF, "USD", order=AllocationOrder.COMPONENT_FIRST)
    # Both fees (2,000), both interests (3,800), then principal oldest first: 8,200 of installment 1.
    assert [(line.component, line.installment, line.amount) for line in by_component.lines] == [
        (Component.FEE, 1, 1_000),
        (Component.FEE, 2, 1_000),
        (Component.INTEREST, 1, 2_000),
        (Component.INTEREST, 2, 1_800),
        (Component.PRINCIPAL, 1, 8_200),
    ]


def test_an_early_payment_of_one_installment_settles_the_first_not_the_last() -> None:
    # Issue 10, item 11: nothing is due yet and exactly one installment is paid; installment 1 is settled
    # (interest, then principal), the rest of the schedule is untouched and nothing is cancelled.
    schedule = build_schedule(10_000_000, "NGN", Decimal("0.24"), 12, date(2025, 1, 31))
    items = [Outstanding(i.number, i.due_date, 0, i.interest, i.principal) for i in schedule.installments]
    allocation = allocate_payment(945_596, items, date(2025, 1, 10), "NGN", accrued_interest=1_000)
    assert [(line.component, line.installment, line.amount) for line in allocation.lines] == [
        (Component.INTEREST, 1, 200_000),
        (Component.PRINCIPAL, 1, 745_596),
    ]
    assert (
        allocation.lines[0].explanation
        == "₦2,000.00 to the interest of installment 1, paid ahead of its due date"
    )
    assert (allocation.paid_ahead, allocation.prepaid_principal, allocation.to_accrued_interest) == (
        945_596,
        0,
        0,
    )
    assert [item.number for item in allocation.remaining] == list(range(2, 13))
    assert allocation.remaining == tuple(items[1:]) and allocation.cancelled == ()


def test_money_beyond_what_is_due_pays_the_next_installments_in_order() -> None:
    # Installment 3 needs 500,000 + 169,878 + 775,718 = 1,445,596; 3,000,000 leaves 1,554,404: installment
    # 4 (154,364 + 791,232 = 945,596) in full, then 5's interest 138,539 and 470,269 of its principal.
    allocation = allocate_payment(3_000_000, loan_from_installment_3(), AS_OF, "NGN", accrued_interest=47_000)
    assert [(line.component, line.installment, line.amount) for line in allocation.lines[3:]] == [
        (Component.INTEREST, 4, 154_364),
        (Component.PRINCIPAL, 4, 791_232),
        (Component.INTEREST, 5, 138_539),
        (Component.PRINCIPAL, 5, 470_269),
    ]
    assert (allocation.paid_ahead, allocation.to_accrued_interest, allocation.prepaid_principal) == (
        1_554_404,
        0,
        0,
    )
    remaining = {item.number: item for item in allocation.remaining}
    assert 4 not in remaining and remaining[5] == Outstanding(5, date(2025, 5, 31), 0, 0, 807_057 - 470_269)
    assert remaining[12] == Outstanding(12, date(2025, 12, 31), 0, 18_541, 927_056)
    assert allocation.cancelled == () and allocation.credit == 0


def test_a_prepayment_of_all_the_principal_without_the_accrued_interest_is_refused() -> None:
    # 1,445,596 due + 7,718,178 of principal to come, short of the 47,000 accrued: that is a settlement.
    for prepay in Prepay:
        with pytest.raises(ValueError, match="early settlement quote"):
            allocate_payment(
                1_445_596 + 7_718_178,
                loan_from_installment_3(),
                AS_OF,
                "NGN",
                accrued_interest=47_000,
                prepay=prepay,
            )


def test_paying_the_settlement_quote_pays_the_loan_off_and_more_is_a_credit() -> None:
    items = loan_from_installment_3()
    # Outstanding principal 8,493,896 (the balance after installment 2); 10 days from 31 March at 24%:
    # 8,493,896 * 0.24 * 10 / 365 = 55,849.72 -> 55,850. Total 8,493,896 + 169,878 + 55,850 + 500,000.
    quote = quote_early_settlement(
        sum(item.principal for item in items),
        Decimal("0.24"),
        date(2025, 3, 31),
        AS_OF,
        "NGN",
        interest_due=169_878,
        unpaid_fees=500_000,
    )
    assert (quote.principal, quote.accrued_interest, quote.accrued_days) == (8_493_896, 55_850, 10)
    assert quote.total == 9_219_624
    assert quote.valid_until == AS_OF
    assert quote.per_diem == 5_585  # 8,493,896 * 0.24 / 365 = 5,584.97
    assert quote.lines[2] == (
        "₦558.50 interest accrued since 2025-03-31: ₦84,938.96 at 24% a year for 10/365 of a year"
    )
    exact = allocate_payment(quote.total, items, AS_OF, "NGN", accrued_interest=quote.accrued_interest)
    assert exact.paid_off and exact.credit == 0
    assert exact.cancelled == tuple(range(4, 13))
    over = allocate_payment(
        quote.total + 10_000, items, AS_OF, "NGN", accrued_interest=quote.accrued_interest
    )
    assert over.paid_off and over.credit == 10_000
    assert over.lines[-1].explanation == (
        "₦100.00 is more than the loan owes: a credit to refund to the borrower or keep for later"
    )


def test_a_quote_valid_for_longer_accrues_interest_to_its_last_day() -> None:
    # 8,493,896 * 0.24 * 13 / 365 = 72,604.64 -> 72,605: paid earlier, the difference is refunded.
    quote = quote_early_settlement(8_493_896, Decimal("0.24"), date(2025, 3, 31), AS_OF, "NGN", valid_days=3)
    assert (quote.valid_until, quote.accrued_days, quote.accrued_interest) == (date(2025, 4, 13), 13, 72_605)


def test_accrued_interest_is_actual_over_365_rounded_half_up() -> None:
    # 1,825 * 0.10 * 1 / 365 = 0.5 exactly -> 1 (half-up; half-even would give 0).
    assert accrued_interest(1_825, Decimal("0.10"), date(2024, 2, 28), date(2024, 2, 29)) == 1
    # 366 days in 2024 still divide by 365: 36,500 * 0.10 * 366 / 365 = 3,660.
    assert accrued_interest(36_500, Decimal("0.10"), date(2024, 1, 1), date(2025, 1, 1)) == 3_660
    assert accrued_interest(36_500, Decimal("0.10"), date(2024, 1, 1), date(2024, 1, 1)) == 0


@pytest.mark.parametrize(
    ("amount", "items", "as_of", "kwargs"),
    [
        (0, [], AS_OF, {}),
        (-5, [], AS_OF, {}),
        (100, [Outstanding(1, date(2025, 3, 1)), Outstanding(1, date(2025, 4, 1))], AS_OF, {}),
        (100, [Outstanding(1, date(2025, 4, 1)), Outstanding(2, date(2025, 3, 1))], AS_OF, {}),
        (100, [Outstanding(1, date(2025, 3, 1), interest=-1)], AS_OF, {}),
        (100, [], datetime(2025, 4, 10, tzinfo=UTC), {}),
        (100, [], AS_OF, {"accrued_interest": -1}),
        (100, [], AS_OF, {"order": "newest_first"}),
    ],
)
def test_invalid_allocations_are_refused(
    amount: int, items: list[Outstanding], as_of: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        allocate_payment(amount, items, as_of, "NGN", **kwargs)


def test_interest_cannot_accrue_backwards_and_a_quote_needs_sane_inputs() -> None:
    with pytest.raises(ValueError):
        accrued_interest(1_000, Decimal("0.1"), date(2025, 2, 1), date(2025, 1, 1))
    with pytest.raises(ValueError):
        quote_early_settlement(1_000, Decimal("0.1"), date(2025, 1, 1), AS_OF, "NGN", valid_days=-1)
    with pytest.raises(ValueError):
        quote_early_settlement(1_000, Decimal("0.1"), date(2025, 1, 1), AS_OF, "XYZ")


@st.composite
def loans(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 24))
    rate = Decimal(draw(st.integers(0, 6_000))).scaleb(-4)
    schedule = build_schedule(draw(st.integers(1_000 * count, 10**9)), "NGN", rate, count, date(2025, 1, 31))
    due_count = draw(st.integers(0, count))
    as_of = (
        schedule.installments[due_count - 1].due_date + timedelta(days=5) if due_count else date(2025, 1, 1)
    )
    items = []
    for line in schedule.installments:
        overdue = line.number <= due_count
        items.append(
            Outstanding(
                line.number,
                line.due_date,
                fees=draw(st.integers(0, 5_000)) if overdue else 0,
                interest=draw(st.integers(0, line.interest)) if overdue else line.interest,
                principal=draw(st.integers(0, line.principal)) if overdue else line.principal,
            )
        )
    owed = sum(item.total for item in items)
    return {
        "items": items,
        "as_of": as_of,
        "amount": draw(st.integers(1, owed * 2 + 10)),
        "accrued": draw(st.integers(0, 10_000)),
        "order": draw(st.sampled_from(AllocationOrder)),
        "prepay": draw(st.sampled_from([None, *Prepay])),
        "terms": LoanTerms(rate, "annuity", "monthly"),
    }


def allocated(case: dict[str, Any]) -> Allocation | None:
    """The allocation, or None for a prepayment refused for one of its documented reasons."""
    try:
        return allocate_payment(
            case["amount"],
            case["items"],
            case["as_of"],
            "NGN",
            accrued_interest=case["accrued"],
            order=case["order"],
            prepay=case["prepay"],
            terms=case["terms"],
        )
    except ValueError as exc:
        assert case["prepay"] is not None
        assert any(
            why in str(exc) for why in ("settlement quote", "too small", "does not cover", "reduce_term")
        )
        return None


def payoff(items: list[Outstanding], as_of: date, accrued: int) -> int:
    due = sum(item.total for item in items if item.due_date <= as_of)
    future = [item for item in items if item.due_date > as_of]
    if future:  # the accrued interest is capped at the interest still to come
        accrued = min(accrued, sum(item.interest for item in future))
    return due + accrued + sum(item.principal for item in future)


@given(loans())
def test_every_unit_of_the_payment_is_allocated_exactly_once(case: dict[str, Any]) -> None:
    allocation = allocated(case)
    if allocation is None:
        return
    assert sum(line.amount for line in allocation.lines) == case["amount"]
    assert all(line.amount > 0 for line in allocation.lines)
    assert case["amount"] == (
        allocation.to_fees
        + allocation.to_interest
        + allocation.to_principal
        + allocation.to_accrued_interest
        + allocation.prepaid_principal
        + allocation.credit
    )
    assert allocation.paid_ahead <= allocation.to_interest + allocation.to_principal
    assert all(item.fees >= 0 and item.interest >= 0 and item.principal >= 0 for item in allocation.remaining)


@given(loans())
def test_a_credit_arises_only_beyond_a_full_payoff(case: dict[str, Any]) -> None:
    allocation = allocated(case)
    if allocation is None:
        return
    full = payoff(case["items"], case["as_of"], case["accrued"])
    assert allocation.credit == max(0, case["amount"] - full)
    assert allocation.paid_off == (case["amount"] >= full)


@given(loans())
def test_nothing_later_in_the_order_is_paid_while_something_earlier_is_owed(case: dict[str, Any]) -> None:
    allocation = allocated(case)
    if allocation is None:
        return
    items, as_of = case["items"], case["as_of"]
    due = [item for item in items if item.due_date <= as_of]
    fields = ("fees", "interest", "principal")
    if case["order"] is AllocationOrder.INSTALLMENT_FIRST:
        sequence = [(item, field) for item in due for field in fields]
    else:
        sequence = [(item, field) for field in fields for item in due]
    ahead = sum(item.total for item in items if item.due_date <= as_of) + sum(
        item.principal for item in items if item.due_date > as_of
    )  # paying at least this settles the loan, short of some accrued interest (test_late_settlement)
    if case["prepay"] is None and case["amount"] < ahead:  # an advance: the next installments in order
        sequence += [(item, field) for item in items if item.due_date > as_of for field in fields[1:]]
    paid = {(line.installment, line.component): line.amount for line in allocation.lines}
    components = dict(zip(fields, (Component.FEE, Component.INTEREST, Component.PRINCIPAL), strict=True))
    short = [getattr(item, field) - paid.get((item.number, components[field]), 0) for item, field in sequence]
    first_short = next((i for i, owed in enumerate(short) if owed > 0), len(short))
    assert all(
        paid.get((item.number, components[field]), 0) == 0 for item, field in sequence[first_short + 1 :]
    )
    if first_short < len(short):  # something due is still owed: nothing was prepaid or credited
        assert allocation.prepaid_principal == allocation.to_accrued_interest == allocation.credit == 0
