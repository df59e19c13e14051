"""Output of a provider's capital: what it has free, held and lent, from the ledger."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from tools.platform.models import Money, Output

__all__ = ["ProviderCapital"]


class ProviderCapital(Output):
    provider_id: UUID
    currency: str = Field(description="The one currency the provider lends in.")
    available: Money = Field(description="Free to lend: its capital_available account.")
    reserved: Money = Field(
        description="Held for offers a borrower accepted, until disbursed or released: capital_reserved."
    )
    lent: Money = Field(description="Principal its loans still owe it: their principal_receivable accounts.")
    total: Money = Field(description="available + reserved + lent.")
    loans_outstanding: int = Field(description="Its loans that still owe principal.")
    as_of: datetime
