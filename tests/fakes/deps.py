"""Each service's dependency dataclass built from the in-memory fakes: the test-side counterpart of
``mcp_servers.wiring.build_dependencies``. Typed, so mypy checks every fake against the Protocol of the
field it fills, and the fake unit of work against each service's unit-of-work Protocol: a fake that
drifts from its port fails ``mypy``."""

from __future__ import annotations

from decimal import Decimal

from adapters.platform.vault import AesGcmVault
from tests.fakes.credit import (
    FakeApplicationReader,
    FakeDocumentReader,
    FakeDocumentStore,
    FakeRiskReader,
)
from tests.fakes.ledger import FakeLedgerReader
from tests.fakes.loans import FakeCommissionReader, FakeLoanReader
from tests.fakes.marketplace import FakeBidReader, FakeDeliveryStore, FakeProviderReader, FakeWebhookSender
from tests.fakes.payments import FakeGateway, FakePaymentReader
from tests.fakes.store import FakeStore
from tests.fakes.unit_of_work import fake_unit_of_work
from tools.credit.ports import CreditDeps
from tools.ledger.ports import LedgerDeps
from tools.loans.ports import LoanDeps
from tools.marketplace.ports import MarketplaceDeps
from tools.payments.domain.routing import DEFAULT_ROUTES, VendorRouter
from tools.payments.ports import PaymentDeps, PaymentGateway
from tools.platform.ports import PersonalDataVault
from tools.risk.domain.scorecard import DEFAULT_POLICY
from tools.risk.ports import RiskDeps

__all__ = [
    "OPERATOR_APPROVAL_ABOVE",
    "VAULT",
    "credit_deps",
    "ledger_deps",
    "loan_deps",
    "marketplace_deps",
    "payment_deps",
    "risk_deps",
]

# The real vault with fixed keys: sealing personal data costs microseconds and needs nothing outside.
VAULT: PersonalDataVault = AesGcmVault({"fake-k1": b"k" * 32}, "fake-k1", b"i" * 32)
# As the configuration's default (mcp_servers.config): approvals above these need an operator.
OPERATOR_APPROVAL_ABOVE = {"NGN": Decimal("5000000"), "KES": Decimal("1000000"), "USD": Decimal("10000")}


def credit_deps(store: FakeStore) -> CreditDeps:
    return CreditDeps(
        uow=fake_unit_of_work(store),
        applications=FakeApplicationReader(store),
        documents=FakeDocumentReader(store),
        risk=FakeRiskReader(store),
        store=FakeDocumentStore(),
        vault=VAULT,
        clock=store.clock,
        policy=DEFAULT_POLICY,
        operator_approval_above=OPERATOR_APPROVAL_ABOVE,
    )


def risk_deps(store: FakeStore) -> RiskDeps:
    return RiskDeps(
        uow=fake_unit_of_work(store),
        applications=FakeApplicationReader(store),
        documents=FakeDocumentReader(store),
        risk=FakeRiskReader(store),
        vault=VAULT,
        clock=store.clock,
    )


def marketplace_deps(store: FakeStore) -> MarketplaceDeps:
    return MarketplaceDeps(
        uow=fake_unit_of_work(store),
        applications=FakeApplicationReader(store),
        risk=FakeRiskReader(store),
        providers=FakeProviderReader(store),
        bids=FakeBidReader(store),
        deliveries=FakeDeliveryStore(),
        sender=FakeWebhookSender(),
        vault=VAULT,
        clock=store.clock,
    )


def loan_deps(store: FakeStore) -> LoanDeps:
    return LoanDeps(
        uow=fake_unit_of_work(store),
        reader=FakeLoanReader(store),
        providers=FakeProviderReader(store),
        commissions=FakeCommissionReader(),
        clock=store.clock,
    )


def ledger_deps(store: FakeStore) -> LedgerDeps:
    return LedgerDeps(uow=fake_unit_of_work(store), reader=FakeLedgerReader(store), clock=store.clock)


def payment_deps(store: FakeStore, gateway: PaymentGateway | None = None) -> PaymentDeps:
    return PaymentDeps(
        uow=fake_unit_of_work(store),
        reader=FakePaymentReader(store),
        loans=loan_deps(store),
        applications=FakeApplicationReader(store),
        vault=VAULT,
        gateway=gateway or FakeGateway(),
        router=VendorRouter.from_text(DEFAULT_ROUTES),
        clock=store.clock,
    )
