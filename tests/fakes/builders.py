"""Arranging a fast test: applications brought along their journey by the real use cases on the fakes
(submit, score, accept an offer, approve, originate, disburse), and the rows other services own arranged
directly in the tables (providers, bids, invitations, verified documents), as the MCP tests arrange
them in SQL.

Figures, as in the MCP tests' helpers (tests/helpers/risk.py, loans.py, bidding.py): the default
application asks 250000.00 over 12 months, income 450000.00, obligations 35000.00, business, employed
30 months, the applicant 40. ``APPROVE_BUREAU`` scores it 790 (grade A: open for bids once the identity
is verified), ``REFER_BUREAU`` 595 (grade D: under review).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from tests.fakes.deps import credit_deps, loan_deps, marketplace_deps, payment_deps, risk_deps
from tests.fakes.store import FakeStore
from tools.credit.applications import submit_application
from tools.credit.decisions import approve_application
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.models.applications import SubmitApplication
from tools.loans.domain.commission_plan import CommissionPlan
from tools.loans.domain.loans import LoanRecord
from tools.loans.loans import confirm_disbursement
from tools.loans.origination import originate_loan
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.offers import accept_offer
from tools.payments.charges import collect_repayment
from tools.payments.core import settle
from tools.payments.domain.payments import PaymentRecord, PaymentStatus
from tools.payments.payments import disburse_loan
from tools.platform.domain.money import from_minor
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role
from tools.risk.assessments import score_application
from tools.risk.models import BureauData

__all__ = [
    "APPROVE_BUREAU",
    "COUNTRIES",
    "REFER_BUREAU",
    "WORKER",
    "accepted_offer",
    "active_loan",
    "approved",
    "as_",
    "bid",
    "collection",
    "disbursement",
    "open_for_bids",
    "pending_loan",
    "provider",
    "referred",
    "scored",
    "submitted",
    "uid",
    "verify_documents",
]

APPROVE_BUREAU = BureauData(bureau_score=790, recent_delinquencies=0)
REFER_BUREAU = BureauData(bureau_score=500, recent_delinquencies=2)
COUNTRIES = {"NGN": "NG", "GHS": "GH", "KES": "KE"}
IDENTITY_AND_INCOME = ("national_id", "proof_of_income")
WORKER = Invocation(Principal("worker:payments", Role.SERVICE), "workers.payments", "0" * 64)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def as_(subject: str, role: Role, provider_id: str | None = None, tool: str = "tests.fake") -> Invocation:
    """A call by ``subject`` in ``role`` (the MCP layer builds this from the token)."""
    return Invocation(Principal(subject, role, provider_id), tool, "0" * 64)


def _payload(store: FakeStore, currency: str, borrower_id: str | None, **overrides: Any) -> SubmitApplication:
    today = store.clock.today()
    body: dict[str, Any] = {
        "borrower_id": borrower_id,
        "applicant": {
            "full_name": "Adaeze Okafor",
            "email": "adaeze@example.com",
            "phone": "+2348012345678",
            "country": COUNTRIES[currency],
            "date_of_birth": date(today.year - 40, today.month, 1).isoformat(),
            "national_id": "48213957610",
            "bank_account": {"bank_code": "058", "account_number": "0123987456"},
        },
        "currency": currency,
        "amount": "250000.00",
        "term_months": 12,
        "purpose": "business",
        "monthly_income": "450000.00",
        "monthly_obligations": "35000.00",
        "employment": {"status": "employed", "employer_name": "Dangote Cement", "months_in_employment": 30},
    }
    body.update(overrides)
    return SubmitApplication.model_validate(body)


async def submitted(
    store: FakeStore, *, currency: str = "NGN", filer: str | None = None, **overrides: Any
) -> ApplicationRecord:
    """A fresh borrower submits for themselves, or the operator ``filer`` files it for one."""
    borrower = uid("b")
    call = as_(borrower, Role.BORROWER) if filer is None else as_(filer, Role.OPERATOR)
    cmd = _payload(store, currency, None if filer is None else borrower, **overrides)
    view = await submit_application(credit_deps(store), call, cmd)
    return store.tables.applications[view.id]


def verify_documents(store: FakeStore, app: ApplicationRecord, *document_types: str) -> None:
    """Arranged: the application has verified documents of these types (the documents use cases own it)."""
    store.tables.verified_documents.setdefault(app.id, set()).update(document_types)


async def scored(store: FakeStore, app: ApplicationRecord, bureau: BureauData) -> ApplicationRecord:
    await score_application(risk_deps(store), as_(uid("op-score"), Role.OPERATOR), app.reference, bureau)
    return store.tables.applications[app.id]


async def referred(store: FakeStore, *, filer: str | None = None) -> ApplicationRecord:
    """Scored 595 without a verified identity: under review."""
    app = await scored(store, await submitted(store, filer=filer), REFER_BUREAU)
    assert app.status == "under_review", app.status
    return app


async def open_for_bids(
    store: FakeStore, *, documents: tuple[str, ...] = ("national_id",), **submit: Any
) -> ApplicationRecord:
    """Submitted, ``documents`` verified and scored 790: open for bids."""
    app = await submitted(store, **submit)
    verify_documents(store, app, *documents)
    app = await scored(store, app, APPROVE_BUREAU)
    assert app.status == "open_for_bids", app.status
    return app


def provider(
    store: FakeStore, *, currency: str = "NGN", capital_minor: int = 10_000_000_000, **changes: Any
) -> ProviderRecord:
    """Arranged: an active lender in ``currency`` (18%-30%, 500.00 to 5000000.00, 3 to 36 months)."""
    now = store.clock.now()
    record = ProviderRecord(
        id=uuid.uuid4(),
        name=uid("Test Bank"),
        provider_type="bank",
        status="active",
        suspended_reason=None,
        suspended_at=None,
        suspended_by=None,
        currency=currency,
        countries=[COUNTRIES[currency]],
        accepted_grades=["A", "B", "C"],
        min_score=550,
        max_dti=Decimal("0.45"),
        min_term_months=3,
        max_term_months=36,
        min_amount_minor=50_000,
        max_amount_minor=500_000_000,
        capital_available_minor=capital_minor,
        min_annual_rate=Decimal("0.18"),
        max_annual_rate=Decimal("0.30"),
        commission_plan=CommissionPlan(),
        webhook_url="https://lender.example.com/caas/webhook",
        webhook_secret_encrypted=b"sealed",
        webhook_secret_rotated_at=now,
        decided_count=0,
        approved_count=0,
        created_by="tests",
        created_at=now,
        updated_at=now,
        version=1,
    )
    store.tables.providers[record.id] = replace(record, **changes)
    return store.tables.providers[record.id]


def bid(
    store: FakeStore,
    app: ApplicationRecord,
    lender: ProviderRecord,
    *,
    annual_rate: str = "0.24",
    schedule_method: str = "annuity",
    fee_minor: int = 0,
    amount_minor: int | None = None,
    valid_for: timedelta = timedelta(days=7),
) -> BidRecord:
    """Arranged: the lender's live bid on the application (monthly over its term), its invitation marked
    bid_submitted. Bids are created in call order."""
    now = store.clock.now()
    record = BidRecord(
        id=uuid.uuid4(),
        application_id=app.id,
        provider_id=lender.id,
        version=1,
        amount_minor=amount_minor or app.requested_amount_minor or 0,
        currency=app.currency,
        annual_rate=Decimal(annual_rate),
        term_months=app.term_months or 12,
        origination_fee_minor=fee_minor,
        repayment_frequency="monthly",
        schedule_method=schedule_method,
        valid_until=now + valid_for,
        conditions=None,
        status="active",
        created_by=uid("lender-user"),
        created_at=now,
        accepted_at=None,
        provider_name=lender.name,
        provider_status=lender.status,
    )
    store.tables.bids[record.id] = record
    store.tables.invitations[app.id, lender.id] = "bid_submitted"
    return record


async def accepted_offer(
    store: FakeStore, *, fee_minor: int = 0, **submit: Any
) -> tuple[ApplicationRecord, ProviderRecord, BidRecord]:
    """Open for bids with identity and income verified, one lender's bid accepted by the borrower."""
    app = await open_for_bids(store, documents=IDENTITY_AND_INCOME, **submit)
    lender = provider(store, currency=app.currency)
    offer = bid(store, app, lender, fee_minor=fee_minor)
    await accept_offer(
        marketplace_deps(store), as_(app.borrower_id, Role.BORROWER), str(app.id), offer.id, uid("accept")
    )
    return store.tables.applications[app.id], store.tables.providers[lender.id], store.tables.bids[offer.id]


async def approved(store: FakeStore, *, fee_minor: int = 500_000) -> tuple[ApplicationRecord, UUID]:
    """An accepted offer (5000.00 fee by default) approved by a checker; (application, provider id)."""
    app, lender, _ = await accepted_offer(store, fee_minor=fee_minor)
    done = await approve_application(
        credit_deps(store),
        as_(uid("op-approve"), Role.OPERATOR),
        str(app.id),
        "documents and income verified",
    )
    assert done.approved, done
    return store.tables.applications[app.id], lender.id


async def pending_loan(store: FakeStore, *, fee_minor: int = 500_000) -> LoanRecord:
    """The test loan: 250000.00 NGN at 24% over 12 monthly annuity installments of 23639.90, the
    5000.00 origination fee withheld (net disbursement 245000.00), awaiting disbursement."""
    app, _ = await approved(store, fee_minor=fee_minor)
    view = await originate_loan(loan_deps(store), as_(uid("op-loans"), Role.OPERATOR), str(app.id))
    return store.tables.loans[view.id]


async def active_loan(store: FakeStore, *, fee_minor: int = 500_000) -> LoanRecord:
    """The test loan, paid out: what the gateway's webhook does through ``confirm_disbursement``."""
    loan = await pending_loan(store, fee_minor=fee_minor)
    net = from_minor(loan.amount_financed_minor, loan.currency)
    gateway = as_("onasis-gateway", Role.SERVICE, tool="tests.confirm_disbursement")
    await confirm_disbursement(loan_deps(store), gateway, str(loan.id), uid("trf"), net, loan.currency)
    return store.tables.loans[loan.id]


async def disbursement(store: FakeStore, *, sent: bool = True) -> tuple[LoanRecord, PaymentRecord]:
    """The test loan's payout requested by an operator and, when ``sent``, accepted by paystack (as the
    payments worker records it); no outcome yet."""
    loan = await pending_loan(store)
    deps = payment_deps(store)
    view = await disburse_loan(deps, as_(uid("op-pay"), Role.OPERATOR), str(loan.id), uid("key"))
    if sent:
        async with deps.uow() as uow:
            await settle(deps, uow, WORKER, view.id, PaymentStatus.SENT, "sent", vendor="paystack")
    return store.tables.loans[loan.id], store.tables.payments[view.id]


async def collection(store: FakeStore, amount: str = "5000.00") -> tuple[LoanRecord, PaymentRecord]:
    """A repayment of ``amount`` on the paid-out test loan, initialized at the gateway by its borrower."""
    loan = await active_loan(store)
    call = as_(loan.borrower_id, Role.BORROWER)
    view = await collect_repayment(payment_deps(store), call, str(loan.id), Decimal(amount), uid("key"))
    return store.tables.loans[loan.id], store.tables.payments[view.id]
