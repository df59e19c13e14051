"""Helpers for the ledger tests: fresh provider ids, typical journals, posting through the use case."""

from __future__ import annotations

import uuid
from uuid import UUID

from mcp_servers.runtime import Runtime
from tools.ledger.domain.chart import Account, account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import post_journal
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

# Money tools do not exist yet, so journals are posted by calling the use case as a service would.
SERVICE_CALL = Invocation(Principal("svc-ledger-tests", Role.SERVICE), "tests.post_journal", "0" * 64)


def new_provider() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


def capital(provider: str, purpose: str, currency: str = "NGN") -> Account:
    return account("provider", purpose, currency, provider)


def deposit(provider: str, minor: int, currency: str = "NGN", source: str | None = None) -> JournalDraft:
    return JournalDraft(
        JournalKind.CAPITAL_DEPOSIT,
        source or f"deposit-{uuid.uuid4().hex[:12]}",
        "capital received",
        (
            debit(capital(provider, "capital_available", currency), minor),
            credit(capital(provider, "capital_contributed", currency), minor),
        ),
    )


def reserve(provider: str, minor: int, currency: str = "NGN", source: str | None = None) -> JournalDraft:
    return JournalDraft(
        JournalKind.RESERVATION,
        source or f"offer-{uuid.uuid4().hex[:12]}",
        "offer accepted",
        (
            debit(capital(provider, "capital_reserved", currency), minor),
            credit(capital(provider, "capital_available", currency), minor),
        ),
    )


async def post(runtime: Runtime, *drafts: JournalDraft) -> list[UUID]:
    """Post ``drafts`` in one transaction, as a money-moving use case would."""
    async with runtime.deps.ledger.uow() as uow:
        return [await post_journal(uow, SERVICE_CALL, d) for d in drafts]
