"""Payment tools (the ``payments`` server): pay loans out and collect repayments through the Onasis
gateway.

``disburse_loan`` pays a loan that is pending_disbursement out
to the borrower's bank account (a worker sends it; the vendor's webhook activates the loan);
``collect_repayment`` returns an authorization_url where the borrower pays, and the webhook allocates the
payment to the loan. Amounts are decimal strings in major units. Outputs say simulated: true when the
gateway is the built-in sandbox (no real money).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from mcp_servers.params import Cursor, IdempotencyKey, Limit, LoanHandle, PrepayChoice
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.payments import charges, payments, payout_losses, retries
from tools.payments.models import PaymentKind, PaymentPage, PaymentStatus, PaymentView, PayoutWriteOff
from tools.platform.models import DecimalString, FreeText, Identifier
from tools.platform.principal import Role

__all__ = ["TOOLS"]


STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
COLLECTORS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.PROVIDER, Role.OPERATOR, Role.ADMIN, Role.SERVICE})

Simulate = Annotated[
    Literal[
        "success", "failure", "pending", "late_webhook", "timeout_after_success", "server_error", "rejected"
    ]
    | None,
    Field(
        default=None,
        description="Sandbox only (refused with a real gateway): the outcome the simulated vendor gives.",
    ),
]
PaymentId = Annotated[UUID, Field(description="The payment's id (from disburse_loan, collect_repayment).")]


TOOLS = ToolSet()


@TOOLS.tool(
    roles=STAFF,
    title="Disburse a loan",
    read_only=False,
    idempotent=True,
    open_world=True,
    destructive=True,
    confirm=True,
)
async def disburse_loan(
    loan: LoanHandle, idempotency_key: IdempotencyKey, simulate: Simulate = None
) -> PaymentView:
    """Pay a loan out: its net disbursement (principal less the origination fee) goes to the
    borrower's bank account on the application.

    Use once originate_loan made the loan (status pending_disbursement). This records the payment
    (status requested) and returns at once; a background worker sends it to the gateway under a
    reference derived from the payment's id, with retries and backoff, verifying before any re-send,
    so it can never become two transfers. The vendor's webhook then marks it succeeded and makes the
    loan active (ledger and commission posted) — follow it with get_payment or get_loan. One
    disbursement per loan at a time: another is a conflict until that one failed.
    """
    return await payments.disburse_loan(deps().payments, invocation(), loan, idempotency_key, simulate)


@TOOLS.tool(roles=COLLECTORS, title="Collect a repayment", read_only=False, idempotent=True, open_world=True)
async def collect_repayment(
    loan: LoanHandle,
    amount: Annotated[
        DecimalString,
        Field(gt=0, description='Decimal string in the loan currency\'s major units, e.g. "23639.90".'),
    ],
    idempotency_key: IdempotencyKey,
    simulate: Simulate = None,
    prepay: PrepayChoice = None,
) -> PaymentView:
    """Start a repayment by the borrower: returns authorization_url, where the borrower pays.

    Use for a loan being repaid (active, delinquent or defaulted); get_loan or
    quote_early_settlement say what is due. amount is at most what settles the loan today
    (quote_early_settlement's total): more is invalid_argument, and nothing is charged. The charge
    is created at the gateway now, at the currency's vendor (or its fallback when the first does not
    answer). Refused by the gateway or with no vendor answering, the payment is recorded failed and
    the idempotency_key is free to use again; the same key again while the charge is still being
    opened is a conflict that says to call again in a few seconds. Once the payer completes it, the
    vendor's webhook allocates the money to the loan exactly as record_repayment would, with the
    borrower's prepay choice (quote it first with credit_quote_prepayment).
    Borrowers collect on their own loans, agents on those they filed.
    """
    return await charges.collect_repayment(
        deps().payments, invocation(), loan, amount, idempotency_key, simulate, prepay
    )


# Issue 11: an entity is named by its noun (application, loan, payment), not by "<noun>_id".
RENAMED = {"payment_id": "send the payment's id as payment"}


@TOOLS.tool(roles=READERS, title="Get a payment", read_only=True, idempotent=True, retired=RENAMED)
async def get_payment(payment: PaymentId) -> PaymentView:
    """One payment: kind, status, amount, gateway reference, vendor, attempts and the last error,
    what happens next, and whether money is simulated.

    Use to follow a disbursement or a collection. Someone else's payment answers not_found.
    """
    return await payments.get_payment(deps().payments, principal(), payment)


@TOOLS.tool(roles=READERS, title="List payments", read_only=True, idempotent=True)
async def list_payments(
    loan: Annotated[
        Identifier | None, Field(default=None, min_length=1, max_length=64, description="Only this loan's.")
    ] = None,
    kind: Annotated[PaymentKind | None, Field(default=None, description="Only this kind.")] = None,
    status: Annotated[
        list[PaymentStatus] | None,
        Field(default=None, max_length=len(PaymentStatus), description="Only these statuses."),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> PaymentPage:
    """List payments newest first, a page at a time.

    Borrowers see their loans' payments, agents those of applications they filed, providers those
    of the loans they made, operators, admins and services all. Statuses: requested, sent,
    succeeded, failed, reversed. Pass next_cursor back as cursor; it is null on the last page.
    """
    return await payments.list_payments(
        deps().payments,
        principal(),
        loan=loan,
        kind=kind,
        statuses=status,
        limit=limit,
        cursor=cursor,
    )


@TOOLS.tool(
    roles=STAFF, title="Verify a payment", read_only=False, idempotent=True, open_world=True, retired=RENAMED
)
async def verify_payment(payment: PaymentId) -> PaymentView:
    """Ask the gateway where a payment stands and apply its answer, exactly as the vendor's webhook
    would be applied.

    Use when a webhook seems late or lost. A success activates the loan (disbursement) or allocates
    the repayment (collection); a failure fails the payment; an answer that would move the payment
    backwards is ignored. ``verification`` says what the gateway answered and what it changed.
    """
    return await payments.verify_payment(deps().payments, invocation(), payment)


@TOOLS.tool(roles=STAFF, title="Retry a failed payout", read_only=False, idempotent=True, confirm=True)
async def retry_disbursement(
    payment: Annotated[
        Identifier,
        Field(
            min_length=1,
            max_length=64,
            description="The failed payout: its payment id, or its caas-disbursement-<id> reference.",
            examples=["caas-disbursement-0b5c8f0e-6d3a-4f57-9a51-3f1e9e3b2c41"],
        ),
    ],
    idempotency_key: IdempotencyKey,
    simulate: Simulate = None,
) -> PaymentView:
    """Pay a loan out again after its disbursement payment failed: records a new payout of the same
    net disbursement (status requested), which the payments worker sends under a new reference.

    Use when get_payment or list_payments shows the loan's payout failed (the vendor refused it, or
    the account was wrong and has since been corrected) or was reversed by the vendor. Reversing a
    journal is not the fix: such a payout posted nothing, so there is nothing to reverse. Refused as a
    conflict unless the payment is a failed or reversed disbursement and the loan is still
    pending_disbursement with no other payout in flight.
    """
    return await retries.retry_disbursement(deps().payments, invocation(), payment, idempotency_key, simulate)


# Idempotent in effect: a booking is written off once, and a second call is a conflict that changes
# nothing.
@TOOLS.tool(
    roles={Role.ADMIN},
    title="Write off a payout no loan took",
    read_only=False,
    destructive=True,
    idempotent=True,
    confirm=True,
)
async def write_off_payout(
    payment: Annotated[
        Identifier,
        Field(
            min_length=1,
            max_length=64,
            description="The payout booked for recovery: its payment id, or its caas-disbursement-<id> "
            "reference.",
            examples=["caas-disbursement-0b5c8f0e-6d3a-4f57-9a51-3f1e9e3b2c41"],
        ),
    ],
    reason: Annotated[
        FreeText,
        StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
        Field(description="Mandatory: why the money will not come back."),
    ],
) -> PayoutWriteOff:
    """Write off a payout that no loan took and whose recipient will not pay it back: the platform's
    loss (a payout_loss journal, Dr platform payout_losses, Cr platform payout_recovery), and
    platform_health stops naming it.

    Use when a payout booked for recovery (the vendor paid it after it failed and was retried, or for
    a loan cancelled since; platform_health names them, its next_step says so) cannot be recovered.
    Once the money is back, reverse its payout_recovery journal with reverse_journal instead. A
    conflict unless the payout is so booked, neither recovered nor written off, and its loan has no
    other payout still in flight; the loan and its lender are untouched. Admins only, with a reason.
    Reverse the payout_loss journal should the money come back after all.
    """
    return await payout_losses.write_off_payout(deps().payments, invocation(), payment, reason)
