"""Idempotency keys with Stripe's semantics, the one implementation every idempotent use case calls.

A key is scoped to its caller and operation. The first call claims it inside the use case's unit of
work and, before that transaction commits, records the id of what it produced
(``uow.complete_idempotency_key``, or ``uow.record(..., completes=claim)``, which writes it in the audit
row's statement: one round trip fewer). A later call with the same key and the same arguments replays that
result; with other arguments it is a conflict; while the first is still in flight the database makes
the duplicate wait for it (see ``database.unit_of_work``). Keys live 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from tools.platform.errors import Conflict
from tools.platform.ports import IdempotencyClaim, IdempotencyOutcome

__all__ = ["IdempotentUnitOfWork", "claim_or_replay", "request_sha256"]


class IdempotentUnitOfWork(Protocol):
    async def claim_idempotency_key(self, claim: IdempotencyClaim) -> IdempotencyOutcome:
        """Claim the key, or wait for a concurrent holder and report what it recorded."""
        ...

    async def complete_idempotency_key(self, claim: IdempotencyClaim, resource_id: str) -> None: ...


def _canonical(value: Any) -> str:
    # One request however its values were written: 250000 is 250000.00, 10:00Z is 11:00+01:00.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


def request_sha256(arguments: Any) -> str:
    """SHA-256 of the arguments' canonical JSON (sorted keys, no spaces; a Decimal without trailing
    zeros, an aware datetime in UTC, other values by ``str``).

    Callers pass what identifies the request, already normalised: an application named by id or by
    reference is the same request, so they hash the id; amounts and times as values (a model's
    ``model_dump()``), not as the text they were written in.
    """
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_or_replay(uow: IdempotentUnitOfWork, claim: IdempotencyClaim) -> str | None:
    """Claim ``claim`` in this transaction: the id of what the key already produced (replay it), or None
    when this call is the first (finish with ``uow.complete_idempotency_key``, or ``uow.record`` with
    ``completes=claim``, in the same transaction).

    Raises Conflict, changing nothing, when the key was used before with other arguments.
    """
    earlier = await uow.claim_idempotency_key(claim)
    if earlier.request_sha256 is not None and earlier.request_sha256 != claim.request_sha256:
        raise Conflict(
            "this idempotency_key was already used with different arguments; repeat the original arguments "
            "to get its result, or use a new key"
        )
    return earlier.resource_id
