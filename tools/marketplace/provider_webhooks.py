"""Outbound webhooks to credit providers: the ``provider_webhooks`` queue handler, and the delivery
listing and requeue for operators (and for a provider, its own deliveries).

Each job is one outbox event that concerns one provider (tools/platform/domain/jobs.py routes it): its
invitation, its bids' fate, the decision on its offer, its loans. The handler POSTs the event to the
provider's ``webhook_url``, signed with the provider's own secret (decrypted from the vault at each
attempt, so a rotation applies to the next attempt): ``X-CaaS-Signature: sha256=<hex HMAC-SHA256 of
"{timestamp}.{body}">`` with ``X-CaaS-Timestamp`` (unix seconds) and ``X-CaaS-Event-Id``, and the
Standard Webhooks headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``, which
carries a second signature with the secret a rotation replaced while its overlap lasts. What each
answer means is in tools/marketplace/domain/provider_webhooks.py; a retry waits the jobs' exponential backoff
with full jitter (``CAAS_WEBHOOK_RETRY_BASE_SECONDS`` doubling, capped at 30 minutes); after
``CAAS_WEBHOOK_MAX_ATTEMPTS`` attempts the delivery fails. A suspended provider, or one without a
URL, is skipped (an operator may queue it again after reactivating it).

Delivery is at least once: the answer is stored in its own transaction before the job is marked, so
a worker killed in between sends the event again (receivers dedupe on the event id); a re-run after
the answer was stored sends nothing. Jobs of one provider are ordered: a provider's failing endpoint
holds back its own later events, never another provider's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from tools.marketplace.domain.provider_webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Answer,
    DeliveryStatus,
    classify,
    parse_retry_after,
    webhook_body,
)
from tools.marketplace.domain.providers import ProviderRecord, ProviderStatus
from tools.marketplace.models.webhook_deliveries import DeliveryPage, DeliveryView
from tools.marketplace.ports import (
    AttemptResult,
    DeliveryQuery,
    DeliveryRecord,
    MarketplaceDeps,
    WebhookRefused,
    WebhookSendError,
)
from tools.marketplace.providers import signing_secrets
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.jobs import backoff_delay
from tools.platform.domain.signatures import caas_signature, standard_webhook_signature
from tools.platform.errors import Conflict, NotFound, PermissionDenied
from tools.platform.jobs import Job, PermanentFailure, RetryLater
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = [
    "QUEUE",
    "Attempt",
    "attempt_delivery",
    "deliver_provider_webhook",
    "delivery_view",
    "list_webhook_deliveries",
    "provider_id_of",
    "rerun_outcome",
    "retry_webhook_delivery",
]

QUEUE = "provider_webhooks"


# -- the queue handler -------------------------------------------------------------------------------


async def deliver_provider_webhook(deps: MarketplaceDeps, job: Job) -> None:
    """Handle one provider_webhooks job: returns when delivered or skipped, raises RetryLater or
    PermanentFailure otherwise (texts hold status codes and failure kinds, no personal data). The
    worker runs the queue a batch at a time (tools/marketplace/webhook_batch.py), with the same outcomes."""
    if job.event_id is None:
        raise PermanentFailure("the job carries no event id")
    # A first attempt has nothing stored to look at (a requeued job starts again at 0 with its row
    # pending): only a re-run can find its outcome stored.
    run = rerun_outcome(await deps.deliveries.by_job(job.id) if job.attempts else None)
    if run is None:
        pid = provider_id_of(job)
        run = await attempt_delivery(deps, job, await deps.providers.get(pid) if pid else None)
        if run.stored is not None:
            await deps.deliveries.record(job.id, run.stored)
    if run.outcome is not None:
        raise run.outcome


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one run of a job ends: the delivery row to store first (None: nothing to store), then the
    job's outcome (None: done; else what the handler raises)."""

    stored: AttemptResult | None
    outcome: Exception | None


def rerun_outcome(previous: DeliveryRecord | None) -> Attempt | None:
    """A re-run after the outcome was stored (the worker died before marking the job): that outcome,
    nothing sent; None when the job is to be attempted."""
    if previous is None:
        return None
    if previous.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED):
        return Attempt(None, None)
    if previous.status == DeliveryStatus.FAILED:
        return Attempt(None, PermanentFailure(previous.last_error or "failed"))
    return None


def provider_id_of(job: Job) -> UUID | None:
    try:
        return UUID(str(job.payload.get("provider_id")))
    except ValueError:
        return None


async def attempt_delivery(deps: MarketplaceDeps, job: Job, provider: ProviderRecord | None) -> Attempt:
    """Send the job's event to ``provider`` (the job's, None when there is none) and judge the answer;
    stores nothing. Its errors other than the sender's are raised (an unexpected error, retried)."""
    reason = _skip_reason(provider)
    if provider is None or reason is not None:
        return Attempt(AttemptResult(DeliveryStatus.SKIPPED, attempted=False, error=reason), None)
    url = provider.webhook_url
    body, headers = _signed(deps, provider, job)
    attempt = job.attempts + 1
    try:
        answer = await deps.sender.post(url, body, headers)
    except WebhookRefused as exc:
        # Nothing was sent (the URL or its address is not allowed): no retry can change that until
        # the provider's webhook_url does; an operator queues it again after.
        why = f"not sent: {exc}"
        failed = AttemptResult(DeliveryStatus.FAILED, attempted=False, error=why, url=url)
        return Attempt(failed, PermanentFailure(why))
    except WebhookSendError as exc:
        result = AttemptResult(DeliveryStatus.PENDING, attempted=True, error=str(exc), url=url)
        return _retry_or_give_up(deps, attempt, result, None)
    code = answer.status_code
    kind = classify(code)
    if kind is Answer.DELIVERED:
        return Attempt(
            AttemptResult(DeliveryStatus.DELIVERED, attempted=True, status_code=code, url=url), None
        )
    if kind is Answer.REFUSED:
        why = f"the receiver answered {code}: refused for good (not retried)"
        failed = AttemptResult(DeliveryStatus.FAILED, attempted=True, status_code=code, error=why, url=url)
        return Attempt(failed, PermanentFailure(why))
    result = AttemptResult(
        DeliveryStatus.PENDING,
        attempted=True,
        status_code=code,
        error=f"the receiver answered {code}",
        url=url,
    )
    return _retry_or_give_up(deps, attempt, result, answer.retry_after)


def _signed(deps: MarketplaceDeps, provider: ProviderRecord, job: Job) -> tuple[bytes, dict[str, str]]:
    """The event's body and headers, signed with the provider's valid secrets at this attempt."""
    assert job.event_id is not None
    secrets = signing_secrets(deps, provider)
    body = webhook_body(job.event_id, job.event_type, job.created_at, job.payload)
    timestamp = int(deps.clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: caas_signature(body, secrets[0], timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: str(job.event_id),
        EVENT_TYPE_HEADER: job.event_type,
        # Standard Webhooks (standardwebhooks.com): one signature per valid secret, so a lender that
        # has not deployed a rotated secret yet still verifies during the overlap.
        "webhook-id": str(job.event_id),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhook_signature(str(job.event_id), timestamp, body, secrets),
    }
    return body, headers


def _skip_reason(provider: ProviderRecord | None) -> str | None:
    if provider is None:
        return "no such provider"
    if provider.status != ProviderStatus.ACTIVE:
        return f"the provider is {provider.status}"
    if not provider.webhook_url:
        return "the provider has no webhook_url"
    return None


def _retry_or_give_up(
    deps: MarketplaceDeps, attempt: int, result: AttemptResult, retry_after: str | None
) -> Attempt:
    error = result.error or "not delivered"
    if attempt >= deps.webhook_max_attempts:
        why = f"gave up after {attempt} attempts; last: {error}"
        failed = AttemptResult(
            DeliveryStatus.FAILED,
            attempted=True,
            status_code=result.status_code,
            error=why,
            url=result.url,
        )
        return Attempt(failed, PermanentFailure(why))
    delay = backoff_delay(attempt, base=deps.webhook_retry_base, cap=deps.webhook_retry_cap)
    asked = parse_retry_after(retry_after, deps.clock.now())
    if asked is not None:
        # The receiver's own wait is a minimum; our cap still bounds it.
        delay = min(max(delay, asked), deps.webhook_retry_cap)
    return Attempt(result, RetryLater(error, delay))


# -- operators (and providers) -----------------------------------------------------------------------


def delivery_view(d: DeliveryRecord) -> DeliveryView:
    return DeliveryView(
        event_id=d.event_id,
        event_type=d.event_type,
        provider_id=d.provider_id,
        status=DeliveryStatus(d.status),
        attempts=d.attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        last_attempt_at=d.last_attempt_at,
        next_attempt_at=d.next_attempt_at,
        delivered_at=d.delivered_at,
        failed_at=d.failed_at,
        url=d.url,
        requeue_count=d.requeue_count,
        requeued_at=d.requeued_at,
        queued_at=d.queued_at,
    )


def _scope(principal: Principal, provider_id: UUID | None) -> str | None:
    """The provider whose deliveries the principal lists: a provider only its own."""
    if principal.role is not Role.PROVIDER:
        return None if provider_id is None else str(provider_id)
    own = principal.provider_id
    if own is None:
        raise PermissionDenied("your token carries no provider_id; ask the operator for a provider token")
    if provider_id is not None and str(provider_id) != own:
        raise PermissionDenied("providers can only list their own webhook deliveries; leave provider out")
    try:
        return str(UUID(own))
    except ValueError:
        raise PermissionDenied("your token's provider_id is not a provider id") from None


async def list_webhook_deliveries(
    deps: MarketplaceDeps,
    principal: Principal,
    provider_id: UUID | None,
    statuses: Sequence[DeliveryStatus] | None,
    event_type: str | None,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    provider = _scope(principal, provider_id)
    scope = keyset("webhook_deliveries", provider=provider, statuses=statuses, event_type=event_type)
    rows = await deps.deliveries.list(
        DeliveryQuery(
            provider_id=provider,
            statuses=[s.value for s in statuses] if statuses else None,
            event_type=event_type,
            after=decode_cursor(scope, cursor) if cursor else None,
            limit=limit + 1,
        )
    )
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].queued_at, page[-1].event_id) if len(rows) > limit else None
    return DeliveryPage(items=[delivery_view(d) for d in page], next_cursor=next_cursor)


def _not_found(event_id: UUID) -> NotFound:
    return NotFound(
        f"no webhook delivery for event {event_id}; call list_webhook_deliveries to find its event_id"
    )


def _may_retry(principal: Principal, delivery: DeliveryRecord) -> bool:
    """Staff retry any delivery; a provider only its own (another's reads as missing)."""
    if principal.role is not Role.PROVIDER:
        return True
    try:
        return UUID(str(principal.provider_id)) == UUID(delivery.provider_id)
    except ValueError:
        return False


async def retry_webhook_delivery(deps: MarketplaceDeps, call: Invocation, event_id: UUID) -> DeliveryView:
    """Queue a failed (or skipped) delivery again, due now, with a fresh attempt budget."""
    async with deps.deliveries.requeueing() as tx:
        delivery = await tx.lock(event_id)
        if delivery is None or not _may_retry(call.principal, delivery):
            raise _not_found(event_id)
        if delivery.status not in (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
            raise Conflict(
                f"the delivery of event {event_id} is {delivery.status}; only failed or skipped "
                "deliveries are queued again"
            )
        requeued = await tx.requeue(delivery.job_id, call.principal.subject)
        event = OutboxEvent(
            "webhook_delivery",
            str(event_id),
            "webhook_delivery.requeued",
            {
                "event_id": str(event_id),
                "event_type": delivery.event_type,
                "provider_id": delivery.provider_id,
                "previous_status": delivery.status,
                "requeue_count": requeued.requeue_count,
            },
        )
        await tx.record(AuditRecord(call, "webhook_delivery", str(event_id)), [event])
    return delivery_view(requeued)
