"""The chart of accounts: codes built and parsed the same way, stable ids, and no account off the chart."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.ledger.domain.chart import (
    CHART,
    AccountError,
    AccountKind,
    OwnerType,
    account,
    account_id,
    parse_account_code,
)

IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.@+-]{0,40}\Z")


def build(owner: OwnerType, purpose: str, owner_id: str = "p-7", qualifier: str = "onasis", cur: str = "NGN"):
    spec = CHART[(owner, purpose)]
    return account(
        owner,
        purpose,
        cur,
        None if owner is OwnerType.PLATFORM else owner_id,
        qualifier if spec.qualified else None,
    )


def test_codes_read_owner_id_purpose_qualifier_currency() -> None:
    assert account("provider", "capital_available", "NGN", "p-7").code == "provider:p-7:capital_available:NGN"
    assert account("platform", "commission_income", "KES").code == "platform:commission_income:KES"
    clearing = account(OwnerType.PLATFORM, "cash_clearing", "NGN", qualifier="onasis")
    assert clearing.code == "platform:cash_clearing:onasis:NGN"
    assert (clearing.kind, clearing.owner_type, clearing.owner_id) == (
        AccountKind.ASSET,
        OwnerType.PLATFORM,
        None,
    )


@pytest.mark.parametrize(("owner", "purpose"), list(CHART), ids=[f"{o}:{p}" for o, p in CHART])
def test_every_chart_account_parses_back_to_itself(owner: OwnerType, purpose: str) -> None:
    built = build(owner, purpose)
    assert parse_account_code(built.code) == built
    assert built.kind is CHART[(owner, purpose)].kind


@given(owner_id=IDS, qualifier=IDS, key=st.sampled_from(list(CHART)))
def test_any_legal_id_round_trips_and_the_id_is_the_uuid5_of_the_code(owner_id, qualifier, key) -> None:
    built = build(*key, owner_id=owner_id, qualifier=qualifier)
    assert parse_account_code(built.code) == built
    assert (
        built.id
        == account_id(built.code)
        == uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "caas:ledger:accounts"), built.code)
    )


def test_the_id_of_an_account_never_changes() -> None:
    # Stored ids depend on it: this value is fixed forever.
    assert str(account_id("platform:fee_income:NGN")) == str(
        uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "caas:ledger:accounts"), "platform:fee_income:NGN")
    )


BAD_ACCOUNTS = {
    "unknown owner": (("bank", "capital_available", "NGN", "p-7"), "not an account owner"),
    "unknown purpose": (("provider", "capital_spent", "NGN", "p-7"), "capital_available"),
    "platform purpose for a provider": (("provider", "commission_income", "NGN", "p-7"), "no purpose"),
    "lower-case currency": (("provider", "capital_available", "ngn", "p-7"), "ISO 4217"),
    "not lendable currency": (("provider", "capital_available", "XAU", "p-7"), "XAU"),
    "provider without id": (("provider", "capital_available", "NGN", None), "needs its provider id"),
    "platform with id": (("platform", "fee_income", "NGN", "x"), "no owner id"),
    "colon in id": (("loan", "principal_receivable", "NGN", "a:b"), "cannot be part"),
    "space in id": (("borrower", "payable", "NGN", "a b"), "cannot be part"),
    "empty id": (("borrower", "payable", "NGN", ""), "cannot be part"),
}


@pytest.mark.parametrize(("args", "says"), BAD_ACCOUNTS.values(), ids=BAD_ACCOUNTS.keys())
def test_accounts_off_the_chart_are_refused_with_the_way_out(args, says) -> None:
    with pytest.raises(AccountError, match=says):
        account(*args)


def test_qualifiers_are_required_exactly_where_the_chart_says() -> None:
    with pytest.raises(AccountError, match="needs a qualifier"):
        account("platform", "cash_clearing", "NGN")
    with pytest.raises(AccountError, match="takes no qualifier"):
        account("platform", "fee_income", "NGN", qualifier="onasis")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "provider",
        "provider:NGN",
        "provider:p-7:NGN",
        "provider:p-7:capital_available",
        "provider:p-7:capital_available:x:y:NGN",
        "platform:cash_clearing:NGN",
        "platform:fee_income:onasis:NGN",
        "loan::principal_receivable:NGN",
        "Provider:p-7:capital_available:NGN",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(AccountError):
        parse_account_code(code)


def test_an_owner_uuid_names_one_account_however_it_is_spelled() -> None:
    """A probe asked for provider:<UPPER-CASE UUID>:capital_available:NGN and got not_found."""
    provider = uuid.uuid4()
    lower = parse_account_code(f"provider:{provider}:capital_available:NGN")
    assert parse_account_code(f"provider:{str(provider).upper()}:capital_available:NGN") == lower
    assert lower.code == f"provider:{provider}:capital_available:NGN"


@pytest.mark.parametrize("sent", ["x" * 400, "provider:\u202eevil:capital_available:NGN", "a\x00b:c:d"])
def test_a_refused_code_is_not_echoed_when_it_is_not_a_plain_code(sent: str) -> None:
    with pytest.raises(AccountError) as refused:
        parse_account_code(sent)
    assert sent not in str(refused.value) and "\u202e" not in str(refused.value)
