"""Building blocks every input and output model uses."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.platform.domain.money import MoneyError, currency_exponent, from_minor

__all__ = ["CurrencyCode", "Input", "Money", "Output", "describe_validation_error"]


class Input(BaseModel):
    """Base of every tool input: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Output(BaseModel):
    model_config = ConfigDict(frozen=True)


CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
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
        parts.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
