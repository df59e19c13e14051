"""Inputs and outputs of the provider tools. Amounts are decimal strings in major units of the
provider's one lending currency; rates and the DTI ceiling are decimal fractions (0.24 is 24%)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self
from urllib.parse import urlsplit
from uuid import UUID

import pycountry
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tools.loans.domain.commission_plan import (
    DEFAULT_PRINCIPAL_RATE,
    MAX_TIERS,
    CommissionCap,
    CommissionPlan,
    CommissionTier,
)
from tools.marketplace.domain.providers import GRADES, ProviderStatus, ProviderTerms, ProviderType
from tools.platform.domain.money import MoneyError, from_minor, to_minor
from tools.platform.models import (
    CurrencyCode,
    DecimalString,
    Identifier,
    Input,
    Line,
    Money,
    Output,
    check_currency,
    described_like,
)

__all__ = [
    "CommissionPlanInput",
    "CommissionPlanView",
    "OnboardProvider",
    "OnboardedProvider",
    "ProviderChanges",
    "ProviderPage",
    "ProviderStatus",
    "ProviderType",
    "ProviderView",
    "RotatedSecret",
    "plan_view",
]

Grade = Annotated[str, Field(pattern="^[A-E]$", description="Risk grade A (safest) to E.")]
Fraction = Annotated[DecimalString, Field(ge=0, le=1, decimal_places=6, description="0.085 is 8.5%.")]
Major = Annotated[DecimalString, Field(ge=0, description='Decimal string in major units, e.g. "1000000.00".')]

Name = Annotated[Line, Field(min_length=2, max_length=200, description="Unique, ignoring case.")]
Countries = Annotated[
    list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]],
    Field(min_length=1, max_length=60, description='ISO 3166-1 alpha-2 codes it lends in, e.g. ["NG"].'),
]
Grades = Annotated[
    list[Grade], Field(min_length=1, max_length=5, description='Grades it lends to, e.g. ["A", "B", "C"].')
]
MinScore = Annotated[int, Field(ge=300, le=850, description="Lowest assessed score it lends to (300-850).")]
MaxDti = Annotated[
    DecimalString,
    Field(gt=0, le=1, decimal_places=4, description="Highest debt-to-income after the loan (0.45 = 45%)."),
]
Term = Annotated[int, Field(ge=1, le=120, description="Months.")]
Amount = Annotated[
    DecimalString, Field(gt=0, description='Decimal string in major units of `currency`, e.g. "50000.00".')
]
Capital = Annotated[
    DecimalString,
    Field(ge=0, description="Capital it has available to lend now, in major units of `currency`."),
]
AnnualRate = Annotated[
    DecimalString, Field(ge=0, le=5, decimal_places=4, description="Annual interest rate, 0.24 = 24%.")
]
WebhookUrl = Annotated[
    Identifier,
    Field(
        min_length=10,
        max_length=2000,
        description="Where the platform posts signed events (https; http only for localhost).",
    ),
]


class CommissionTierInput(Input):
    currency: CurrencyCode
    from_principal: Annotated[Major, Field(description="The tier applies from this principal up.")]
    principal_rate: Fraction


class CommissionCapInput(Input):
    currency: CurrencyCode
    max_commission: Annotated[
        DecimalString, Field(gt=0, description="Most commission on one loan, major units.")
    ]


class CommissionPlanInput(Input):
    """What the platform earns on a loan brokered to this provider (see each field)."""

    principal_rate: Annotated[
        Fraction, Field(description="Share of the principal, default 0.085 (8.5%).")
    ] = DEFAULT_PRINCIPAL_RATE
    tiers: Annotated[
        list[CommissionTierInput],
        Field(
            max_length=MAX_TIERS,
            description="Optional, per currency: the tier with the highest from_principal not above the "
            "principal sets the rate for the whole principal.",
        ),
    ] = []
    caps: Annotated[
        list[CommissionCapInput],
        Field(max_length=20, description="Optional, one per currency: most commission on one loan."),
    ] = []
    interest_share: Annotated[Fraction, Field(description="Share of the interest collected, default 0.")] = (
        Decimal("0")
    )

    def to_plan(self) -> CommissionPlan:
        try:
            return CommissionPlan(
                principal_rate=self.principal_rate,
                tiers=tuple(
                    CommissionTier(
                        currency=t.currency,
                        from_principal_minor=to_minor(t.from_principal, t.currency),
                        principal_rate=t.principal_rate,
                    )
                    for t in self.tiers
                ),
                caps=tuple(
                    CommissionCap(
                        currency=c.currency, max_commission_minor=to_minor(c.max_commission, c.currency)
                    )
                    for c in self.caps
                ),
                interest_share=self.interest_share,
            )
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _valid_plan(self) -> Self:
        self.to_plan()
        return self


class CommissionPlanView(Output):
    principal_rate: Decimal
    tiers: list[dict[str, object]]
    caps: list[dict[str, object]]
    interest_share: Decimal


def plan_view(plan: CommissionPlan) -> CommissionPlanView:
    return CommissionPlanView(
        principal_rate=plan.principal_rate,
        tiers=[
            {
                "currency": t.currency,
                "from_principal": from_minor(t.from_principal_minor, t.currency),
                "principal_rate": t.principal_rate,
            }
            for t in plan.tiers
        ],
        caps=[
            {"currency": c.currency, "max_commission": from_minor(c.max_commission_minor, c.currency)}
            for c in plan.caps
        ],
        interest_share=plan.interest_share,
    )


def _check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an absolute https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the platform signs every request instead")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError("must use https (http is accepted only for localhost)")
    return url


class _ProviderFields(Input):
    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("countries", check_fields=False)
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for code in value:
            if not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
                raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 code; use codes such as NG or KE")
        if len(set(value)) != len(value):
            raise ValueError("lists a country twice")
        return value

    @field_validator("accepted_grades", check_fields=False)
    @classmethod
    def _grades(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("lists a grade twice")
        return None if value is None else sorted(value, key=GRADES.index)

    @field_validator("webhook_url", check_fields=False)
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _check_webhook_url(value)

    @field_validator("min_amount", "max_amount", "capital_available", check_fields=False)
    @classmethod
    def _fits_currency(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        currency = info.data.get("currency")
        if value is not None and currency is not None:
            try:
                to_minor(value, currency)
            except MoneyError as exc:
                raise ValueError(str(exc)) from None
        return value


class OnboardProvider(_ProviderFields):
    """A lender joining the marketplace. It lends in one currency; amounts are in that currency."""

    name: Name
    provider_type: Annotated[ProviderType, Field(description="bank, fintech, microfinance or p2p_lending.")]
    currency: CurrencyCode
    countries: Countries
    min_amount: Amount
    max_amount: Amount
    capital_available: Capital
    min_term_months: Term
    max_term_months: Term
    accepted_grades: Grades
    min_score: MinScore
    max_dti: MaxDti
    min_annual_rate: AnnualRate
    max_annual_rate: AnnualRate
    commission_plan: CommissionPlanInput = CommissionPlanInput()
    webhook_url: WebhookUrl

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.min_amount > self.max_amount:
            raise ValueError("min_amount is above max_amount")
        if self.min_term_months > self.max_term_months:
            raise ValueError("min_term_months is above max_term_months")
        if self.min_annual_rate > self.max_annual_rate:
            raise ValueError("min_annual_rate is above max_annual_rate")
        return self

    def to_terms(self) -> ProviderTerms:
        return ProviderTerms(
            name=self.name,
            provider_type=self.provider_type.value,
            currency=self.currency,
            countries=list(self.countries),
            accepted_grades=list(self.accepted_grades),
            min_score=self.min_score,
            max_dti=self.max_dti,
            min_term_months=self.min_term_months,
            max_term_months=self.max_term_months,
            min_amount_minor=to_minor(self.min_amount, self.currency),
            max_amount_minor=to_minor(self.max_amount, self.currency),
            capital_available_minor=to_minor(self.capital_available, self.currency),
            min_annual_rate=self.min_annual_rate,
            max_annual_rate=self.max_annual_rate,
            commission_plan=self.commission_plan.to_plan(),
            webhook_url=self.webhook_url,
        )


class ProviderChanges(_ProviderFields):
    """Fields to change; fields left out keep their value. The result is checked as a whole."""

    model_config = ConfigDict(
        json_schema_extra=described_like(
            OnboardProvider,
            {"capital_available": "75000000.00", "max_annual_rate": "0.30"},
            {"countries": ["NG", "GH"], "webhook_url": "https://lender.example/caas/webhooks"},
        )
    )

    name: Name | None = None
    provider_type: ProviderType | None = None
    currency: CurrencyCode | None = None
    countries: Countries | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    capital_available: Capital | None = None
    min_term_months: Term | None = None
    max_term_months: Term | None = None
    accepted_grades: Grades | None = None
    min_score: MinScore | None = None
    max_dti: MaxDti | None = None
    min_annual_rate: AnnualRate | None = None
    max_annual_rate: AnnualRate | None = None
    commission_plan: CommissionPlanInput | None = None
    webhook_url: WebhookUrl | None = None


class ProviderView(Output):
    id: UUID
    name: str
    provider_type: ProviderType
    status: ProviderStatus
    suspended_reason: str | None
    suspended_at: datetime | None
    currency: str = Field(description="The one currency it lends in.")
    countries: list[str]
    accepted_grades: list[str]
    min_score: int
    max_dti: Decimal
    min_term_months: int
    max_term_months: int
    min_amount: Money
    max_amount: Money
    capital_available: Money
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    commission_plan: CommissionPlanView
    webhook_url: str
    webhook_secret_rotated_at: datetime = Field(
        description="When the signing secret was last generated; the secret itself is never shown again."
    )
    decided_count: int = Field(
        description="Applications it decided after an invitation (bid on, declined, or let expire), as "
        "the workers fold them in every minute."
    )
    approved_count: int = Field(description="Of those, the ones it bid on.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class OnboardedProvider(Output):
    provider: ProviderView
    webhook_secret: str = Field(
        description="Signing secret for webhooks (HMAC-SHA256). Shown only now: store it in the provider's "
        "secret manager. If it is lost, rotate_provider_secret issues a new one."
    )


class RotatedSecret(Output):
    provider_id: UUID
    webhook_secret: str = Field(
        description="The new signing secret, shown only now. Webhooks are signed with it at once; the "
        "secret it replaces keeps signing beside it (a second Standard Webhooks signature) and verifying "
        "the provider's own webhooks until previous_valid_until."
    )
    rotated_at: datetime
    previous_valid_until: datetime = Field(
        description="When the replaced secret stops working (CAAS_WEBHOOK_SECRET_OVERLAP_HOURS after the "
        "rotation; equal to rotated_at when the overlap is 0)."
    )


class ProviderPage(Output):
    items: list[ProviderView]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")
