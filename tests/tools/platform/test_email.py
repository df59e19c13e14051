"""tools.platform.models.Email: an applicant's address is accepted, refused and stored exactly as
pydantic's EmailStr (email_validator) would, while the plain address most people give skips the full
parse. Checked against EmailStr itself on generated addresses, near misses and hand-picked edges."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from tools.credit.models.applications import Applicant
from tools.platform.models import Email, plain_email

EMAIL = TypeAdapter(Email)
REFERENCE = TypeAdapter(EmailStr)

LABEL = st.from_regex(r"\A[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?\Z")
# Addresses near the fast path's edge: mixed case, hyphens doubled, special-use and numeric TLDs, dots
# in the wrong places, long labels, other atext characters, non-ASCII.
NEAR = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.from_regex(r"\A[A-Za-z0-9._+\-!#'~é]{0,70}\Z"),
    st.lists(st.one_of(LABEL, st.from_regex(r"\A[a-z0-9\-]{1,70}\Z"), st.just("xn--bcher-kva")), max_size=4),
    st.sampled_from(
        ["com", "ng", "COM", "test", "local", "localhost", "arpa", "onion", "invalid", "123", "c0m"]
    ),
)


def outcome(adapter: TypeAdapter[str], value: str) -> str | None:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors()
        return f"refused: {errors[0]['msg']}"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.emails(), NEAR, st.text(max_size=40)))
@example("adaeze@example.com")
@example("Ada.Okafor+loans@mail.example.com")
@example("a@b.test")
@example("a@x.local")
@example("ab@cd--ef.com")
@example("ab@xn--bcher-kva.com")
@example("user@EXAMPLE.com")
@example("a..b@example.com")
@example(f"{'a' * 65}@example.com")
@example(f"a@{'b' * 64}.com")
@example(f"a@{'b' * 63}.com")
@example(f"{'a' * 64}@{'.'.join(['b' * 60] * 4)}.com")
@example("a@example.c0m")
def test_email_accepts_refuses_and_returns_what_emailstr_does(value: str) -> None:
    assert outcome(EMAIL, value) == outcome(REFERENCE, value)
    if plain_email(value):
        assert REFERENCE.validate_python(value) == value  # the fast path returns the input as it is


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("adaeze@example.com", True),
        ("ada.okafor+loans@mail.example-bank.ng", True),
        ("user@EXAMPLE.com", False),  # email_validator lower-cases the domain: the full check does it
        ("a@b.test", False),
        ("ab@xn--bcher-kva.com", False),
        ("a@example", False),
    ],
)
def test_the_fast_path_takes_only_addresses_email_validator_returns_unchanged(
    value: str, plain: bool
) -> None:
    assert plain_email(value) is plain


def test_an_applicants_address_keeps_the_schema_and_the_refusal_it_had() -> None:
    schema = Applicant.model_json_schema()["properties"]["email"]
    assert schema["format"] == "email" and schema["type"] == "string" and schema["maxLength"] == 254
    fields = {"full_name": "Ada Okafor", "country": "NG"}
    assert Applicant.model_validate(fields | {"email": " Ada@Example.com "}).email == "Ada@example.com"
    with pytest.raises(ValidationError, match="value is not a valid email address"):
        Applicant.model_validate(fields | {"email": "ada@example.test"})
