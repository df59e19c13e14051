"""Use cases for credit providers: onboard, change, suspend, reactivate, rotate the secret, read, list.

Operators and admins manage providers. A provider's own principals (role provider, with their
provider_id) see only their own provider and may rotate only its secret; any other provider is
reported exactly like a missing one.

The webhook signing secret is generated here, returned once (at onboarding or rotation) and stored
only encrypted by the vault; no read ever returns it.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tools.credit.ports import CreditUnitOfWork
from tools.marketplace.capital_journals import book_capital
from tools.marketplace.domain.providers import TERM_FIELDS, ProviderRecord, ProviderStatus
from tools.marketplace.models.providers import (
    OnboardedProvider,
    OnboardProvider,
    ProviderChanges,
    ProviderPage,
    ProviderView,
    RotatedSecret,
    plan_view,
)
from tools.marketplace.ports import MarketplaceDeps, ProviderQuery
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.money import from_minor
from tools.platform.domain.outbound import url_problem
from tools.platform.errors import Conflict, InvalidArgument, NotFound
from tools.platform.models import Money, describe_validation_error
from tools.platform.payable import check_payable
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = [
    "WEBHOOK_SECRET_FIELD",
    "can_see_provider",
    "get_provider",
    "list_providers",
    "onboard_provider",
    "parse_provider_id",
    "provider_not_found",
    "provider_signing_secret",
    "provider_signing_secrets",
    "provider_view",
    "reactivate_provider",
    "rotate_provider_secret",
    "signing_secrets",
    "suspend_provider",
    "update_provider",
]

WEBHOOK_SECRET_FIELD = "providers.webhook_secret"
SECRET_PREFIX = "whsec_"


def provider_not_found(handle: str) -> NotFound:
    return NotFound(f"no provider '{handle}' that you can see; check the id, or call list_providers")


def parse_provider_id(handle: str) -> UUID:
    try:
        return UUID(handle.strip())
    except ValueError:
        raise provider_not_found(handle) from None


def can_see_provider(principal: Principal, provider_id: UUID) -> bool:
    if principal.role is Role.PROVIDER:
        return principal.provider_id is not None and principal.provider_id == str(provider_id)
    return principal.role in (Role.OPERATOR, Role.ADMIN, Role.SERVICE)


def _new_secret() -> str:
    # Standard Webhooks' form: the prefix and the base64 of the key bytes, so that a lender's
    # ``standardwebhooks`` library takes the secret as it is.
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def provider_view(p: ProviderRecord) -> ProviderView:
    def amount(minor: int) -> Any:
        return Money.from_minor(minor, p.currency)

    return ProviderView.model_validate(
        {
            "id": p.id,
            "name": p.name,
            "provider_type": p.provider_type,
            "status": p.status,
            "suspended_reason": p.suspended_reason,
            "suspended_at": p.suspended_at,
            "currency": p.currency,
            "countries": p.countries,
            "accepted_grades": p.accepted_grades,
            "min_score": p.min_score,
            "max_dti": p.max_dti,
            "min_term_months": p.min_term_months,
            "max_term_months": p.max_term_months,
            "min_amount": amount(p.min_amount_minor),
            "max_amount": amount(p.max_amount_minor),
            "capital_available": amount(p.capital_available_minor),
            "min_annual_rate": p.min_annual_rate,
            "max_annual_rate": p.max_annual_rate,
            "commission_plan": plan_view(p.commission_plan),
            "webhook_url": p.webhook_url,
            "webhook_secret_rotated_at": p.webhook_secret_rotated_at,
            "decided_count": p.decided_count,
            "approved_count": p.approved_count,
            "created_by": p.created_by,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "version": p.version,
        }
    )


def _event(p: ProviderRecord, event_type: str, **extra: Any) -> OutboxEvent:
    # Never the secret; the URL and terms are read from the provider when a consumer needs them.
    return OutboxEvent(
        aggregate_type="provider",
        aggregate_id=str(p.id),
        event_type=event_type,
        payload={
            "provider_id": str(p.id),
            "name": p.name,
            "provider_type": p.provider_type,
            "status": p.status,
            "currency": p.currency,
            "version": p.version,
            "occurred_at": p.updated_at.isoformat(),
            **extra,
        },
    )


def _as_fields(p: ProviderRecord) -> dict[str, Any]:
    """A stored provider as the fields of OnboardProvider, for merging changes and re-validating."""
    return {
        "name": p.name,
        "provider_type": p.provider_type,
        "currency": p.currency,
        "countries": p.countries,
        "min_amount": str(from_minor(p.min_amount_minor, p.currency)),
        "max_amount": str(from_minor(p.max_amount_minor, p.currency)),
        "capital_available": str(from_minor(p.capital_available_minor, p.currency)),
        "min_term_months": p.min_term_months,
        "max_term_months": p.max_term_months,
        "accepted_grades": p.accepted_grades,
        "min_score": p.min_score,
        "max_dti": str(p.max_dti),
        "min_annual_rate": str(p.min_annual_rate),
        "max_annual_rate": str(p.max_annual_rate),
        "commission_plan": plan_view(p.commission_plan).model_dump(mode="json"),
        "webhook_url": p.webhook_url,
    }


async def _locked(uow: CreditUnitOfWork, principal: Principal, handle: str) -> ProviderRecord:
    provider_id = parse_provider_id(handle)
    if not can_see_provider(principal, provider_id):
        raise provider_not_found(handle)
    provider = await uow.providers.lock(provider_id)
    if provider is None:
        raise provider_not_found(handle)
    return provider


def _check_receiver(deps: MarketplaceDeps, url: str) -> None:
    """The deployment's rule for where webhooks may go (public https; loopback and http only with
    CAAS_WEBHOOK_ALLOW_LOCAL), checked here as well as at every send, which also resolves the name."""
    problem = url_problem(url, allow_local=deps.webhook_allow_local)
    if problem is not None:
        raise InvalidArgument(f"webhook_url {problem}; give the lender's public https endpoint")


async def onboard_provider(
    deps: MarketplaceDeps, call: Invocation, cmd: OnboardProvider
) -> OnboardedProvider:
    _check_receiver(deps, cmd.webhook_url)
    check_payable(deps.payable_currencies, cmd.currency, "the provider")
    secret = _new_secret()
    sealed = deps.vault.encrypt(secret, field=WEBHOOK_SECRET_FIELD)
    async with deps.uow() as uow:
        provider = await uow.providers.insert(cmd.to_terms(), sealed, call.principal.subject)
        await book_capital(uow, call, None, provider)
        await uow.record(
            AuditRecord(call, "provider", str(provider.id)), [_event(provider, "provider.onboarded")]
        )
    return OnboardedProvider(provider=provider_view(provider), webhook_secret=secret)


async def update_provider(
    deps: MarketplaceDeps,
    call: Invocation,
    handle: str,
    changes: ProviderChanges,
    expected_version: int | None = None,
) -> ProviderView:
    """Change a provider's terms; the merged whole is validated like an onboarding. Status and the
    secret have their own tools. ``expected_version``: refused unless the provider is still at it."""
    async with deps.uow() as uow:
        stored = await _locked(uow, call.principal, handle)
        if expected_version is not None and stored.version != expected_version:
            now = f"{from_minor(stored.capital_available_minor, stored.currency)} {stored.currency}"
            raise Conflict(
                f"provider {stored.id} is at version {stored.version}, not {expected_version}: it changed "
                f"since you read it (available capital, {now} now, moves with every offer and repayment). "
                "Read it again (get_provider) and send the change against that"
            )
        given = changes.model_dump(exclude_unset=True, mode="json")
        amounts = {"min_amount", "max_amount", "capital_available"}
        if given.get("currency", stored.currency) != stored.currency and not amounts <= given.keys():
            raise InvalidArgument(
                f"its amounts are in {stored.currency}; changing the currency needs min_amount, "
                "max_amount and capital_available in the new currency in the same call"
            )
        if given.get("currency", stored.currency) != stored.currency:
            check_payable(deps.payable_currencies, given["currency"], "the provider's new currency")
            await _nothing_going_in(uow, stored, given["currency"])
        if "webhook_url" in given:
            _check_receiver(deps, given["webhook_url"])
        # Capital left out is kept as it is, unchecked: settlements and reversals may have taken it
        # past the most a caller may set, and that must not block a change of anything else.
        kept = "capital_available" not in given
        merged = _as_fields(stored) | given | ({"capital_available": "0"} if kept else {})
        try:
            terms = OnboardProvider.model_validate(merged).to_terms()
        except ValidationError as exc:
            raise InvalidArgument(
                f"the provider would be invalid: {describe_validation_error(exc)}"
            ) from None
        if kept:
            terms = replace(terms, capital_available_minor=stored.capital_available_minor)
        before = stored.terms()
        changed = [name for name in TERM_FIELDS if getattr(terms, name) != getattr(before, name)]
        if not changed:
            return provider_view(stored)  # nothing to change: no new version, no event
        provider = await uow.providers.update_terms(stored.id, terms)
        await book_capital(uow, call, stored, provider)
        await uow.record(
            AuditRecord(call, "provider", str(provider.id)),
            [_event(provider, "provider.updated", changed=changed)],
        )
    return provider_view(provider)


async def _nothing_going_in(uow: CreditUnitOfWork, stored: ProviderRecord, new: str) -> None:
    """A currency change moves only the available capital. What is bid, reserved or lent in the old
    currency comes back in it (a released reservation, a settlement, a withheld fee) and would be added
    to capital counted in the new one, so the change waits until none is left."""
    cur = stored.currency
    bids, reserved, loans = await uow.providers.in_currency(stored.id, cur)
    if bids or reserved or loans:
        raise Conflict(
            f"provider {stored.id} still has {bids} live bids, {from_minor(reserved, cur)} {cur} reserved "
            f"for accepted offers and {loans} loans not yet closed, all in {cur}: its money in {cur} comes "
            f"back in {cur}. Change the currency to {new} once they are settled (withdraw its live bids), "
            f"or onboard another provider to lend in {new}"
        )


async def suspend_provider(deps: MarketplaceDeps, call: Invocation, handle: str, reason: str) -> ProviderView:
    """A suspended provider is matched to nothing until it is reactivated."""
    async with deps.uow() as uow:
        stored = await _locked(uow, call.principal, handle)
        if stored.status == ProviderStatus.SUSPENDED:
            raise Conflict(
                f"provider {stored.id} is already suspended (since {stored.suspended_at:%Y-%m-%d}: "
                f"{stored.suspended_reason}); call reactivate_provider to lift it"
            )
        provider = await uow.providers.set_status(
            stored.id, ProviderStatus.SUSPENDED.value, reason, call.principal.subject
        )
        await uow.record(
            AuditRecord(call, "provider", str(provider.id)),
            [_event(provider, "provider.suspended", reason=reason)],
        )
    return provider_view(provider)


async def reactivate_provider(deps: MarketplaceDeps, call: Invocation, handle: str) -> ProviderView:
    async with deps.uow() as uow:
        stored = await _locked(uow, call.principal, handle)
        if stored.status == ProviderStatus.ACTIVE:
            raise Conflict(f"provider {stored.id} is already active; nothing to reactivate")
        provider = await uow.providers.set_status(stored.id, ProviderStatus.ACTIVE.value, None, None)
        await uow.record(
            AuditRecord(call, "provider", str(provider.id)), [_event(provider, "provider.reactivated")]
        )
    return provider_view(provider)


async def rotate_provider_secret(deps: MarketplaceDeps, call: Invocation, handle: str) -> RotatedSecret:
    secret = _new_secret()
    sealed = deps.vault.encrypt(secret, field=WEBHOOK_SECRET_FIELD)
    async with deps.uow() as uow:
        stored = await _locked(uow, call.principal, handle)
        provider = await uow.providers.set_secret(stored.id, sealed)
        await uow.record(
            AuditRecord(call, "provider", str(provider.id)), [_event(provider, "provider.secret_rotated")]
        )
    rotated_at = provider.webhook_secret_rotated_at
    return RotatedSecret(
        provider_id=provider.id,
        webhook_secret=secret,
        rotated_at=rotated_at,
        previous_valid_until=rotated_at + deps.webhook_secret_overlap,
    )


async def get_provider(deps: MarketplaceDeps, principal: Principal, handle: str) -> ProviderView:
    provider_id = parse_provider_id(handle)
    provider = await deps.providers.get(provider_id) if can_see_provider(principal, provider_id) else None
    if provider is None:
        raise provider_not_found(handle)
    return provider_view(provider)


async def list_providers(
    deps: MarketplaceDeps,
    statuses: list[ProviderStatus] | None,
    provider_type: str | None,
    currency: str | None,
    country: str | None,
    limit: int,
    cursor: str | None,
) -> ProviderPage:
    scope = keyset(
        "providers", statuses=statuses, provider_type=provider_type, currency=currency, country=country
    )
    rows = await deps.providers.list(
        ProviderQuery(
            statuses=[s.value for s in statuses] if statuses else None,
            provider_type=provider_type,
            currency=currency,
            country=country,
            after=decode_cursor(scope, cursor) if cursor else None,
            limit=limit + 1,
        )
    )
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return ProviderPage(items=[provider_view(p) for p in page], next_cursor=next_cursor)


async def provider_signing_secret(deps: MarketplaceDeps, provider_id: UUID) -> str:
    """The provider's webhook signing secret in clear, for signing and verifying webhooks only."""
    return (await provider_signing_secrets(deps, provider_id))[0]


async def provider_signing_secrets(deps: MarketplaceDeps, provider_id: UUID) -> list[str]:
    """The provider's valid signing secrets in clear, current first, for signing and verifying only."""
    provider = await deps.providers.get(provider_id)
    if provider is None:
        raise provider_not_found(str(provider_id))
    return signing_secrets(deps, provider)


def signing_secrets(deps: MarketplaceDeps, provider: ProviderRecord) -> list[str]:
    """The current secret, then the one the latest rotation replaced while its overlap lasts (so a
    lender that has not deployed the new secret yet keeps verifying, and keeps being verified)."""
    found = [deps.vault.decrypt(provider.webhook_secret_encrypted, field=WEBHOOK_SECRET_FIELD)]
    previous = provider.webhook_secret_previous_encrypted
    if (
        previous is not None
        and deps.clock.now() < provider.webhook_secret_rotated_at + deps.webhook_secret_overlap
    ):
        found.append(deps.vault.decrypt(previous, field=WEBHOOK_SECRET_FIELD))
    return found
