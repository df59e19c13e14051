"""Personal data of applicants: sealed by the vault on the way in, masked on the way out.

Only ciphertexts and a blind index reach the database; clear values exist in memory for the length
of a call. Operators and admins (who review identity and pay out) see them in clear, everyone else
masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from tools.credit.domain.applications import ApplicationRecord, age_on
from tools.credit.models.applications import Applicant, ApplicantView, BankAccount, BankAccountView
from tools.platform.domain.pii import mask, normalize_account_number, normalize_national_id
from tools.platform.ports import PersonalDataVault
from tools.platform.principal import Principal, Role

__all__ = [
    "CLEAR_ROLES",
    "Sealed",
    "Unsealed",
    "applicant_view",
    "bank_account_of",
    "national_id_index",
    "seal",
    "unseal",
]

DOB = "applications.date_of_birth"
NATIONAL_ID = "applications.national_id"
BANK_ACCOUNT = "applications.bank_account"
CLEAR_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Unsealed:
    date_of_birth: date | None
    national_id: str | None
    bank_account: BankAccount | None


@dataclass(frozen=True, slots=True)
class Sealed:
    date_of_birth_encrypted: bytes | None
    national_id_encrypted: bytes | None
    national_id_index: bytes | None
    bank_account_encrypted: bytes | None
    # What unseal gives back from these ciphertexts, for the view of the row just written: the call
    # holds these clear values already, and decrypting them again was a third of sealing's cost.
    clear: Unsealed


def national_id_index(vault: PersonalDataVault, national_id: str) -> bytes:
    return vault.blind_index(normalize_national_id(national_id), field=NATIONAL_ID)


def seal(vault: PersonalDataVault, applicant: Applicant) -> Sealed:
    nid = normalize_national_id(applicant.national_id) if applicant.national_id else None
    born = applicant.date_of_birth
    bank = applicant.bank_account
    bank_json = (
        json.dumps(
            {"bank_code": bank.bank_code, "account_number": normalize_account_number(bank.account_number)}
        )
        if bank
        else None
    )
    return Sealed(
        date_of_birth_encrypted=vault.encrypt(born.isoformat(), field=DOB) if born else None,
        national_id_encrypted=vault.encrypt(nid, field=NATIONAL_ID) if nid else None,
        national_id_index=national_id_index(vault, nid) if nid else None,
        bank_account_encrypted=vault.encrypt(bank_json, field=BANK_ACCOUNT) if bank_json else None,
        # As unseal reads them back: the date from its ISO text, the rest from the text encrypted.
        clear=Unsealed(
            date_of_birth=date.fromisoformat(born.isoformat()) if born else None,
            national_id=nid,
            bank_account=BankAccount.model_validate_json(bank_json) if bank_json else None,
        ),
    )


def bank_account_of(vault: PersonalDataVault, app: ApplicationRecord) -> BankAccount | None:
    """The account ``app`` is paid out to, decrypted alone (the other fields stay sealed)."""
    bank = app.bank_account_encrypted
    return None if bank is None else BankAccount.model_validate_json(vault.decrypt(bank, field=BANK_ACCOUNT))


def unseal(vault: PersonalDataVault, app: ApplicationRecord) -> Unsealed:
    dob = app.date_of_birth_encrypted
    nid = app.national_id_encrypted
    bank = app.bank_account_encrypted
    return Unsealed(
        date_of_birth=date.fromisoformat(vault.decrypt(dob, field=DOB)) if dob else None,
        national_id=vault.decrypt(nid, field=NATIONAL_ID) if nid else None,
        bank_account=BankAccount.model_validate_json(vault.decrypt(bank, field=BANK_ACCOUNT))
        if bank
        else None,
    )


def applicant_view(
    app: ApplicationRecord,
    principal: Principal,
    vault: PersonalDataVault,
    today: date,
    unsealed: Unsealed | None = None,
) -> ApplicantView:
    """``unsealed``: the clear values of ``app``'s ciphertexts when the caller holds them (it sealed
    them in this call); otherwise they are decrypted."""
    clear = principal.role in CLEAR_ROLES
    data = unsealed if unsealed is not None else unseal(vault, app)
    born = data.date_of_birth
    bank = data.bank_account
    return ApplicantView(
        full_name=app.applicant_name,
        email=app.applicant_email,
        phone=app.applicant_phone,
        country=app.applicant_country,
        date_of_birth=None if born is None else (born.isoformat() if clear else "****-**-**"),
        age_years=None if born is None else age_on(born, today),
        national_id=None
        if data.national_id is None
        else (data.national_id if clear else mask(data.national_id)),
        bank_account=None
        if bank is None
        else BankAccountView(
            bank_code=bank.bank_code,
            account_number=bank.account_number if clear else mask(bank.account_number),
        ),
    )
