"""KYC completeness: which verified documents prove identity and income."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tools.credit.domain.documents import DocumentType

__all__ = ["IDENTITY_DOCUMENTS", "INCOME_DOCUMENTS", "KycStatus", "kyc_status"]

IDENTITY_DOCUMENTS = frozenset({DocumentType.NATIONAL_ID.value, DocumentType.PASSPORT.value})
INCOME_DOCUMENTS = frozenset({DocumentType.PROOF_OF_INCOME.value, DocumentType.BANK_STATEMENT.value})


@dataclass(frozen=True, slots=True)
class KycStatus:
    identity_verified: bool
    income_verified: bool

    @property
    def complete(self) -> bool:
        return self.identity_verified and self.income_verified

    def missing(self) -> list[str]:
        """What is still needed, in words an agent can act on (empty when complete)."""
        needed = []
        if not self.identity_verified:
            needed.append("a verified identity document (national_id or passport)")
        if not self.income_verified:
            needed.append("a verified income document (proof_of_income or bank_statement)")
        return needed


def kyc_status(types_verified: Iterable[str]) -> KycStatus:
    """Identity needs a verified national_id or passport; income a proof_of_income or bank_statement."""
    verified = {str(t) for t in types_verified}
    return KycStatus(
        identity_verified=bool(verified & IDENTITY_DOCUMENTS),
        income_verified=bool(verified & INCOME_DOCUMENTS),
    )
