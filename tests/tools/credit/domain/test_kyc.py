"""KYC completeness from the verified document types."""

from __future__ import annotations

import pytest

from tools.credit.domain.documents import DocumentType
from tools.credit.domain.kyc import KycStatus, kyc_status


@pytest.mark.parametrize(
    ("verified", "identity", "income"),
    [
        (set(), False, False),
        ({"national_id"}, True, False),
        ({"passport"}, True, False),
        ({"proof_of_income"}, False, True),
        ({"bank_statement"}, False, True),
        ({"proof_of_address"}, False, False),
        ({"passport", "bank_statement"}, True, True),
        ({"national_id", "passport", "proof_of_income", "bank_statement", "proof_of_address"}, True, True),
    ],
)
def test_identity_and_income_each_need_one_of_their_types(
    verified: set[str], identity: bool, income: bool
) -> None:
    status = kyc_status(verified)
    assert status == KycStatus(identity_verified=identity, income_verified=income)
    assert status.complete is (identity and income)
    assert (status.missing() == []) is status.complete


def test_accepts_enum_members_and_any_iterable() -> None:
    status = kyc_status(t for t in (DocumentType.PASSPORT, DocumentType.PROOF_OF_INCOME))
    assert status.complete


def test_missing_names_what_to_provide() -> None:
    assert kyc_status({"passport"}).missing() == [
        "a verified income document (proof_of_income or bank_statement)"
    ]
