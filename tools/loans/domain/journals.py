"""The journals a loan posts (Dr debit, Cr credit; accounts from ``tools.ledger.domain.chart``).

    disbursement  Dr loan principal_receivable P           Cr provider capital_reserved P
                  (the reservation made when the bid was accepted becomes the loan)
    fee           Dr provider capital_available F           Cr provider fee_income F
                  (the origination fee, withheld from the disbursement: the borrower receives P - F)
    commission    Dr provider commission_expense C          Cr platform commission_income C
                  (at disbursement, per the provider's plan)
    fee           Dr loan fees_receivable L                 Cr provider fee_income L   (a late fee)
    repayment     Dr platform cash_clearing:<vendor> A      Cr loan fees_receivable (fees paid)
                                                            Cr provider interest_income (interest paid)
                                                            Cr loan principal_receivable (principal paid)
                                                            Cr borrower payable (an over-payment)
                  and the interest share of the commission: Dr provider commission_expense S
                                                            Cr platform commission_income S
    settlement    Dr provider capital_available N           Cr platform cash_clearing:<vendor> N
                  (with each repayment: the cash collected goes on to the lender, free to lend again,
                  less the platform's interest share; an over-payment stays held for the borrower)
    write_off     Dr provider credit_losses                 Cr loan principal_receivable, fees_receivable
    suspense      Dr platform cash_clearing:<vendor>        Cr platform suspense
                  (money received that its loan refused, owed back to the payer until refunded)
    payout_recovery Dr platform payout_recovery             Cr platform cash_clearing:<vendor>
                  (money a payout sent that its loan did not take, owed back until recovered)
    payout_loss   Dr platform payout_losses                 Cr platform payout_recovery
                  (such a payout written off: its recipient will not pay it back)

Interest is recognised when it is paid (no accrual journals), so a loan's receivables are its
outstanding principal and unpaid late fees, and a write-off removes exactly those. The commission
charged at disbursement is owed by the lender (its commission_expense against the platform's
commission_income) and is not netted from settlements.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tools.ledger.domain.chart import Account, AccountError, account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, Posting, credit, debit
from tools.loans.domain.loans import LoanRecord

__all__ = [
    "CLEARING_VENDOR",
    "borrower_payable",
    "commission_journal",
    "disbursement_journal",
    "late_fee_journal",
    "late_fee_source",
    "origination_fee_journal",
    "payout_loss_journal",
    "payout_recovery_journal",
    "repayment_journal",
    "settlement_journal",
    "suspense_journal",
    "write_off_journal",
]

# Repayments arrive through the Onasis gateway; its clearing account holds them until settlement.
CLEARING_VENDOR = "onasis"


def _loan(loan: LoanRecord, purpose: str) -> Account:
    return account("loan", purpose, loan.currency, str(loan.id))


def _provider(loan: LoanRecord, purpose: str) -> Account:
    return account("provider", purpose, loan.currency, str(loan.provider_id))


def _platform(loan: LoanRecord, purpose: str, qualifier: str | None = None) -> Account:
    return account("platform", purpose, loan.currency, None, qualifier)


def borrower_payable(loan: LoanRecord) -> Account:
    """The borrower's payable account; a borrower id that cannot be part of a code is hashed."""
    try:
        return account("borrower", "payable", loan.currency, loan.borrower_id)
    except AccountError:
        digest = hashlib.sha256(loan.borrower_id.encode()).hexdigest()[:32]
        return account("borrower", "payable", loan.currency, f"h-{digest}")


def _draft(kind: JournalKind, source_id: str, memo: str, postings: Sequence[Posting]) -> JournalDraft:
    return JournalDraft(kind, source_id, memo[:1000], tuple(postings))


def suspense_journal(loan: LoanRecord, payment_id: str, amount: int, why: str) -> JournalDraft:
    """Money a payer paid that the loan refused (it was already paid off): it is at the vendor, so in
    clearing, and owed back to the payer until refunded, when the journal is reversed."""
    return _draft(
        JournalKind.SUSPENSE,
        payment_id,
        f"payment {payment_id} on loan {loan.id} held, not applied: {why}",
        (
            debit(_platform(loan, "cash_clearing", CLEARING_VENDOR), amount),
            credit(_platform(loan, "suspense"), amount),
        ),
    )


def payout_recovery_journal(loan: LoanRecord, payment_id: str, amount: int, why: str) -> JournalDraft:
    """Money a payout sent that its loan did not take (a duplicate, or the payout of a loan cancelled
    since): it left the vendor, and its recipient owes it back until recovered, when the journal is
    reversed. The platform's, not the lender's: the lender's capital funded the one payout applied."""
    return _draft(
        JournalKind.PAYOUT_RECOVERY,
        payment_id,
        f"payout {payment_id} on loan {loan.id} paid, not applied: {why}",
        (
            debit(_platform(loan, "payout_recovery"), amount),
            credit(_platform(loan, "cash_clearing", CLEARING_VENDOR), amount),
        ),
    )


def payout_loss_journal(loan: LoanRecord, recovery_journal_id: str, amount: int, reason: str) -> JournalDraft:
    """A payout booked for recovery written off as lost: the platform's loss, not the lender's (the
    booking was the platform's). Its source is the booking's journal, so a booking is written off once;
    reversing this journal (recovered after all, or written off in error) restores the booking."""
    return _draft(
        JournalKind.PAYOUT_LOSS,
        recovery_journal_id,
        f"payout recovery {recovery_journal_id} on loan {loan.id} written off: {reason}",
        (
            debit(_platform(loan, "payout_losses"), amount),
            credit(_platform(loan, "payout_recovery"), amount),
        ),
    )


def disbursement_journal(loan: LoanRecord, gateway_reference: str) -> JournalDraft:
    p = loan.principal_minor
    return _draft(
        JournalKind.DISBURSEMENT,
        str(loan.id),
        f"loan {loan.id} disbursed (gateway reference {gateway_reference})",
        (debit(_loan(loan, "principal_receivable"), p), credit(_provider(loan, "capital_reserved"), p)),
    )


def origination_fee_journal(loan: LoanRecord) -> JournalDraft:
    fee = loan.origination_fee_minor
    return _draft(
        JournalKind.FEE,
        f"origination-fee:{loan.id}",
        f"origination fee of loan {loan.id}, withheld from the disbursement",
        (debit(_provider(loan, "capital_available"), fee), credit(_provider(loan, "fee_income"), fee)),
    )


def commission_journal(loan: LoanRecord, amount: int) -> JournalDraft:
    return _draft(
        JournalKind.COMMISSION,
        str(loan.id),
        f"commission on the disbursement of loan {loan.id}",
        (
            debit(_provider(loan, "commission_expense"), amount),
            credit(_platform(loan, "commission_income"), amount),
        ),
    )


def late_fee_source(loan: LoanRecord, installment: int) -> str:
    """The late fee movement of an installment (one at most: its journal's source id)."""
    return f"late-fee:{loan.id}:{installment}"


def late_fee_journal(loan: LoanRecord, installment: int, amount: int) -> JournalDraft:
    return _draft(
        JournalKind.FEE,
        late_fee_source(loan, installment),
        f"late fee on installment {installment} of loan {loan.id}",
        (debit(_loan(loan, "fees_receivable"), amount), credit(_provider(loan, "fee_income"), amount)),
    )


def repayment_journal(
    loan: LoanRecord,
    repayment_id: str,
    *,
    amount: int,
    fees: int,
    interest: int,
    principal: int,
    credit_to_borrower: int,
    commission: int,
) -> JournalDraft:
    postings: list[Posting] = [debit(_platform(loan, "cash_clearing", CLEARING_VENDOR), amount)]
    for part, target in (
        (fees, _loan(loan, "fees_receivable")),
        (interest, _provider(loan, "interest_income")),
        (principal, _loan(loan, "principal_receivable")),
        (credit_to_borrower, borrower_payable(loan)),
    ):
        if part:
            postings.append(credit(target, part))
    if commission:
        postings.append(debit(_provider(loan, "commission_expense"), commission))
        postings.append(credit(_platform(loan, "commission_income"), commission))
    return _draft(
        JournalKind.REPAYMENT, repayment_id, f"repayment {repayment_id} on loan {loan.id}", postings
    )


def settlement_journal(loan: LoanRecord, repayment_id: str, amount: int) -> JournalDraft:
    return _draft(
        JournalKind.SETTLEMENT,
        f"settlement:{repayment_id}",
        f"repayment {repayment_id} on loan {loan.id} settled to its lender",
        (
            debit(_provider(loan, "capital_available"), amount),
            credit(_platform(loan, "cash_clearing", CLEARING_VENDOR), amount),
        ),
    )


def write_off_journal(loan: LoanRecord, principal: int, fees: int, reason: str) -> JournalDraft:
    postings = [debit(_provider(loan, "credit_losses"), principal + fees)]
    if principal:
        postings.append(credit(_loan(loan, "principal_receivable"), principal))
    if fees:
        postings.append(credit(_loan(loan, "fees_receivable"), fees))
    return _draft(JournalKind.WRITE_OFF, str(loan.id), f"loan {loan.id} written off: {reason}", postings)
