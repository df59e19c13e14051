"""Building blocks every input and output model uses."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from tools.platform.domain.money import MoneyError, currency_exponent, from_minor

__all__ = [
    "DECIMAL_PATTERN",
    "EARLIEST_DAY",
    "FREE_TEXT_PATTERN",
    "IDENTIFIER_PATTERN",
    "LATEST_DAY",
    "LINE_PATTERN",
    "REFERENCE_PATTERN",
    "CurrencyCode",
    "Day",
    "DecimalString",
    "Email",
    "FreeText",
    "Identifier",
    "Input",
    "Line",
    "Moment",
    "Money",
    "Output",
    "Reference",
    "describe_validation_error",
    "described_like",
    "plain_email",
]


# The common address, ASCII with a lower-case domain, that email_validator accepts and gives back
# unchanged: atoms of letters and digits joined by one of . _ + -, and a domain of labels of letters and
# digits joined by single hyphens, ending in a TLD of letters. Anything else goes to the full check.
_PLAIN_EMAIL = re.compile(
    r"([A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*)@((?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,63})"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def plain_email(value: str) -> bool:
    """True when ``value`` is an address email_validator (as EmailStr calls it) would accept and
    return as it is: the pattern above within its length limits (254 in all, 64 before the @, 253
    after, 63 a label) and not in a special-use domain (``.test``, ``.local``, ...)."""
    m = _PLAIN_EMAIL.fullmatch(value)
    if m is None or len(value) > 254 or len(m[1]) > 64 or len(m[2]) > 253:
        return False
    domain = m[2]
    return all(len(label) <= 63 for label in domain.split(".")) and not any(
        domain == d or domain.endswith("." + d) for d in _SPECIAL_USE
    )


if TYPE_CHECKING:
    Email = EmailStr
else:

    class Email(EmailStr):
        """EmailStr, the same schema, errors and values, without email_validator's full parse (a
        fortieth of a submission's server CPU) for the plain addresses nearly everyone gives."""

        @classmethod
        def _validate(cls, input_value: str, /) -> str:
            return input_value if plain_email(input_value) else super()._validate(input_value)


class Input(BaseModel):
    """Base of every tool input: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Output(BaseModel):
    model_config = ConfigDict(frozen=True)


# The characters each kind of text field accepts, decided once here (issue 10). PostgreSQL cannot store
# NUL, lone surrogates cannot be encoded, and other control characters in stored text only serve to
# confuse the people and programs that read it back. Each pattern is both the JSON Schema a client
# reads and the rule the server applies; a refusal names the field and says what the kind allows.
_CONTROLS = r"\x00-\x1F\x7F-\x9F"
# Bidi embeddings, overrides and isolates make text read otherwise than it is stored (U+202E shows a
# reason or a name reversed to the operator or in a notice); right-to-left text needs none of them, and
# the marks it may use (U+200E, U+200F) stay allowed.
_BIDI = r"\u202A-\u202E\u2066-\u2069"
# One line of human text (names, subjects): any character but control characters.
LINE_PATTERN = rf"^[^{_CONTROLS}{_BIDI}]*$"
# Free text (reasons, comments, messages): like a line, plus newline and tab.
FREE_TEXT_PATTERN = rf"^[^\x00-\x08\x0B-\x1F\x7F-\x9F{_BIDI}]*$"
# Ids and handles that we or an identity provider issued (UUIDs, references, subjects, cursors):
# visible characters, no spaces.
# Nor the invisible characters that make one id look like another: zero-width, bidi embeddings and
# overrides (U+202E shows "evil" reversed), isolates, the BOM.
IDENTIFIER_PATTERN = rf"^[^\s{_CONTROLS}\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]*$"
# References a caller makes up (idempotency keys, payment references): ASCII letters, digits, . _ : -
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]+$"
# Amounts, rates and every other number sent as a string: ASCII digits, an optional sign and fraction.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


# What a refusal says for each pattern: the rule, never the rejected value.
_RULES = {
    LINE_PATTERN: "must be one line of text without control characters or bidi overrides",
    FREE_TEXT_PATTERN: "must be text without control characters (but newline and tab) or bidi overrides",
    IDENTIFIER_PATTERN: "must be an id as this server issued it: visible characters, no spaces, controls or "
    "invisible formatting characters",
    REFERENCE_PATTERN: "may only contain ASCII letters, digits and . _ : - (no spaces)",
}


def _visible(text: str) -> str:
    """Text that is not empty holds something a person can read: zero-width spaces, joiners, marks and
    other format characters (Unicode's Cf), alone, pass any length and read as blank (a probe wrote off
    a payout for a reason of twelve U+200B). Within text they stay (emoji, Persian need them)."""
    if text and all(c.isspace() or unicodedata.category(c) in ("Cf", "Cc") for c in text):
        raise ValueError(
            "holds only invisible characters (zero-width spaces, joiners or marks): write the text"
        )
    return text


# Human text is stripped before its length is checked: a reason of twelve spaces is no reason, nor is
# one of twelve zero-width spaces.
Line = Annotated[
    str, StringConstraints(strip_whitespace=True), Field(pattern=LINE_PATTERN), AfterValidator(_visible)
]
FreeText = Annotated[
    str, StringConstraints(strip_whitespace=True), Field(pattern=FREE_TEXT_PATTERN), AfterValidator(_visible)
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
Reference = Annotated[str, Field(pattern=REFERENCE_PATTERN)]

# The days and moments a caller may name: wide enough for any loan's life (a receipt recorded years
# late, a 30-year schedule), narrow enough that no arithmetic on them (a day added to a period's end, a
# +14:00 offset taken off, a quote's validity) leaves what Python and PostgreSQL can hold. Both ends are
# in the schema (ajv's formatMinimum / formatMaximum), so a client knows them before it calls.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2199, 12, 31)
_DAY_RANGE = f"must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"
_EARLIEST = datetime.combine(EARLIEST_DAY, datetime.min.time())
_LATEST = datetime.combine(LATEST_DAY, datetime.max.time())


def _day_in_range(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValueError(_DAY_RANGE)
    return value


def _moment_in_range(value: datetime) -> datetime:
    # Compared as written (its offset left on): converting year 1 at +14:00 to UTC would overflow.
    if not _EARLIEST <= value.replace(tzinfo=None) <= _LATEST:
        raise ValueError(_DAY_RANGE)
    return value


_RANGE_SCHEMA = {"formatMinimum": EARLIEST_DAY.isoformat(), "formatMaximum": LATEST_DAY.isoformat()}
Day = Annotated[date, AfterValidator(_day_in_range), Field(json_schema_extra=_RANGE_SCHEMA)]
Moment = Annotated[AwareDatetime, AfterValidator(_moment_in_range), Field(json_schema_extra=_RANGE_SCHEMA)]


_DECIMAL = re.compile(DECIMAL_PATTERN[:-1] + r"\Z")  # compiled once: not a cache lookup per amount


def _decimal_string(value: object) -> object:
    # A Decimal can only come from Python (use cases building inputs); anything from JSON is a string.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str) and _DECIMAL.match(value):
        return Decimal(value)
    raise ValueError(
        'must be a decimal string of ASCII digits such as "250000.00" or "0.24" (optional leading "-", '
        "no exponent, spaces or JSON numbers)"
    )


class _DecimalJson:
    """The JSON schema of a decimal string. Unlike ``WithJsonSchema`` it keeps the description the
    field gives (an amount's "Gross monthly income" was dropped from every tool parameter)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: Any, handler: Any) -> dict[str, Any]:
        given = handler(core)
        kept = {key: given[key] for key in ("description", "examples") if key in given}
        return {**kept, "type": "string", "pattern": DECIMAL_PATTERN}


DecimalString = Annotated[Decimal, BeforeValidator(_decimal_string), _DecimalJson]
"""A decimal number sent as a string in exactly ``DECIMAL_PATTERN``; the one type of every amount and rate."""

CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency code in upper case, e.g. NGN, KES, USD.",
        examples=["NGN"],
    ),
]


def check_currency(code: str) -> str:
    try:
        currency_exponent(code)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return code


class Money(Output):
    """An amount as a decimal string with exactly the currency's decimals (never a float)."""

    amount: Decimal = Field(description='Decimal string, e.g. "250000.00".')
    currency: str

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """The amount of ``minor`` units of ``currency`` (``50000, "NGN"`` -> ``"500.00" NGN``)."""
        return cls(amount=from_minor(minor, currency), currency=currency)


def describe_validation_error(exc: ValidationError, most: int = 5) -> str:
    """Field paths and reasons, never the rejected values (they may be personal data)."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for err in errors[:most]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{where}: {_reason(err)}")
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _reason(err: Any) -> str:
    if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in _RULES:
        return _RULES[err["ctx"]["pattern"]]
    if err["type"] == "string_unicode":  # a lone surrogate (an escaped half of a UTF-16 pair)
        return "must be valid Unicode text (no lone surrogate characters)"
    return str(err["msg"]).removeprefix("Value error, ")


def described_like(model: type[BaseModel], *examples: dict[str, Any]) -> Any:
    """The ``json_schema_extra`` of a model of changes to ``model``: a field it leaves undescribed
    reads as the same field of ``model`` (an optional decimal loses its description inside the union),
    and the whole input carries ``examples``."""

    def extra(schema: dict[str, Any], _: type[BaseModel] | None = None) -> None:
        for name, prop in (schema.get("properties") or {}).items():
            field = model.model_fields.get(name)
            if "description" not in prop and field is not None and field.description:
                prop["description"] = field.description
        if examples:
            schema["examples"] = list(examples)

    return extra
