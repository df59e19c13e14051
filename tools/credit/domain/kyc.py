"""KYC completeness: which verified documents prove identity and income."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tools.credit.domain.documents import DocumentType

__all__ = ["IDENTITY_DOCUMENTS", "INCOME_DOCUMENTS", "KycStatus", "kyc_status", "unproven_by_change"]

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


# What each verified document was checked against: an application whose figures change is no longer
# proven by it (a probe replaced the whole applicant, and the identity verified for another person
# still counted).
_PROVES: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    (("applicant.full_name", "applicant.date_of_birth", "applicant.national_id"), IDENTITY_DOCUMENTS),
    (("monthly_income", "employment.status", "employment.employer_name"), INCOME_DOCUMENTS),
    (("applicant.bank_account",), frozenset({DocumentType.BANK_STATEMENT.value})),
    (("applicant.country",), frozenset({DocumentType.PROOF_OF_ADDRESS.value})),
)


def unproven_by_change(before: dict[str, object], after: dict[str, object]) -> set[str]:
    """The document types whose verification a change from ``before`` to ``after`` (an application's
    fields, ``applicant`` and ``employment`` nested) undoes."""

    def value(fields: dict[str, object], path: str) -> object:
        head, _, rest = path.partition(".")
        found = fields.get(head)
        return found.get(rest) if rest and isinstance(found, dict) else found

    types: set[str] = set()
    for paths, proven in _PROVES:
        if any(value(before, p) != value(after, p) for p in paths):
            types |= proven
    return types
