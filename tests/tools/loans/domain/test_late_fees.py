"""Which late fees a payment proves unearned (``tools.loans.domain.late_fees``), with the real allocation:
only a fee charged after a payment dated within its installment's grace period, unpaid, on an installment
that payment pays in full without the fee."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

from tools.loans.domain.late_fees import unearned_late_fees, waivable_late_fees, without_late_fees
from tools.loans.domain.loans import InstallmentRecord, open_outstanding
from tools.loans.domain.repayments import Allocation, allocate_payment

DUE = [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
FEE = 500
GRACE = 5


def line(number: int, *, fee_on: date | None, fee_paid: int = 0, paid: bool = False) -> InstallmentRecord:
    return InstallmentRecord(
        number=number,
        due_date=DUE[number - 1],
        scheduled_principal_minor=9_000,
        scheduled_interest_minor=1_000,
        principal_due_minor=9_000,
        interest_due_minor=1_000,
        fee_due_minor=FEE if fee_on else 0,
        principal_paid_minor=9_000 if paid else 0,
        interest_paid_minor=1_000 if paid else 0,
        fee_paid_minor=fee_paid,
        late_fee_assessed_on=fee_on,
    )


def paying(amount: int, on: date) -> Callable[[Sequence[InstallmentRecord]], Allocation]:
    def allocate(lines: Sequence[InstallmentRecord]) -> Allocation:
        return allocate_payment(amount, open_outstanding(lines), on, "NGN")

    return allocate


def unearned(lines: list[InstallmentRecord], amount: int, on: date) -> frozenset[int]:
    return unearned_late_fees(lines, waivable_late_fees(lines, on, GRACE), paying(amount, on))


CHARGED = DUE[0] + timedelta(days=GRACE + 1)


def test_a_fee_charged_after_a_payment_in_grace_that_pays_the_installment_is_unearned() -> None:
    lines = [line(1, fee_on=CHARGED), line(2, fee_on=None)]
    assert unearned(lines, 10_000, DUE[0] + timedelta(days=GRACE)) == {1}
    assert without_late_fees(lines, {1})[0].fee_due_minor == 0


def test_a_payment_after_the_grace_period_or_short_or_a_fee_paid_leaves_the_fee() -> None:
    assert unearned([line(1, fee_on=CHARGED)], 10_000, DUE[0] + timedelta(days=GRACE + 1)) == set()
    assert unearned([line(1, fee_on=CHARGED)], 9_999, DUE[0]) == set()
    assert unearned([line(1, fee_on=CHARGED, fee_paid=1)], 10_000, DUE[0]) == set()
    # A payment dated after the fee was charged knew of it: the fee stands.
    assert unearned([line(1, fee_on=DUE[0])], 10_000, DUE[0]) == set()


def test_a_fee_left_on_takes_its_share_first_so_the_set_narrows_until_it_holds() -> None:
    on = DUE[1] + timedelta(days=2)  # installment 1 long overdue, installment 2 in grace
    charged_2 = DUE[1] + timedelta(days=GRACE + 1)
    lines = [line(1, fee_on=CHARGED), line(2, fee_on=charged_2)]
    assert unearned(lines, FEE + 20_000, on) == {2}  # installment 1's fee is paid, 2's waived
    assert unearned(lines, 20_000, on) == set()  # 1's fee first leaves 2 short: its fee stands
    # Paid on 1 March for both: the second was paid before it was even due, so neither fee was earned.
    assert unearned(lines, 20_000, DUE[0]) == {1, 2}
