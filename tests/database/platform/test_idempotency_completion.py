"""An idempotency key completed in the audit row's statement (``uow.record(..., completes=claim)``):
one round trip fewer for accept_offer, disburse_loan, retry_disbursement and collect_repayment, with
the same audit row and events as before, and Stripe's semantics kept (a duplicate waits, then replays)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from database.pool import configure_connection
from database.unit_of_work import PgUnitOfWork
from mcp_servers.runtime import Runtime
from tests.helpers.statements import Counted
from tools.platform.idempotency import claim_or_replay
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

AUDIT_COLUMNS = (
    "principal_id, principal_role, provider_id, tool, object_type, args_sha256, outcome, request_id, "
    "client_ip"
)
OUTBOX_COLUMNS = "aggregate_type, event_type, payload"


def _call(subject: str) -> Invocation:
    return Invocation(Principal(subject, Role.BORROWER), "payments.tests", "2" * 64, "req-idem", "10.0.0.3")


def _event(object_id: str) -> OutboxEvent:
    return OutboxEvent("payment", object_id, "payment.requested", {"status": "pending", "n": 1})


async def _written(db: asyncpg.Connection, object_id: str) -> tuple[list[Any], list[Any]]:
    audit = await db.fetch(
        f"SELECT {AUDIT_COLUMNS} FROM caas_audit.audit_log WHERE object_id = $1", object_id
    )
    events = await db.fetch(
        f"SELECT {OUTBOX_COLUMNS} FROM caas_core.outbox WHERE aggregate_id = $1 ORDER BY id", object_id
    )
    return [tuple(r) for r in audit], [tuple(r) for r in events]


async def _resource(db: asyncpg.Connection, claim: IdempotencyClaim) -> Any:
    return await db.fetchval(
        "SELECT resource_id FROM caas_core.idempotency_keys WHERE principal_id = $1 AND operation = $2 "
        "AND key = $3",
        claim.principal_id,
        claim.operation,
        claim.key,
    )


async def test_the_key_is_completed_in_the_audit_rows_statement(core_db: asyncpg.Connection) -> None:
    subject, key = f"b-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    claim = IdempotencyClaim(subject, "collect_repayment", key, "a" * 64)
    # Another caller's key of the same name and operation: the completion must not touch it.
    other = IdempotencyClaim(f"{subject}-other", "collect_repayment", key, "b" * 64)
    plain, completing = str(uuid.uuid4()), str(uuid.uuid4())
    tx = core_db.transaction()
    await tx.start()
    try:
        uow = PgUnitOfWork(core_db)
        assert await claim_or_replay(uow, other) is None
        await uow.record(AuditRecord(_call(subject), "payment", plain), [_event(plain)])
        counted = Counted(core_db)
        counted_uow = PgUnitOfWork(counted)  # type: ignore[arg-type]
        assert await claim_or_replay(counted_uow, claim) is None
        await counted_uow.record(
            AuditRecord(_call(subject), "payment", completing), [_event(completing)], completes=claim
        )
        assert counted.sent == 2  # the claim, then the audit row, the event and the completion
        assert await _resource(core_db, claim) == completing
        assert await _resource(core_db, other) is None
        # The audit row and the event are those a plain record writes.
        assert await _written(core_db, completing) == await _written(core_db, plain)
        audit, events = await _written(core_db, completing)
        assert len(audit) == 1 and len(events) == 1
        # A later call with the key replays what the completing statement recorded.
        assert await claim_or_replay(uow, claim) == completing
    finally:
        await tx.rollback()


async def test_a_concurrent_duplicate_waits_and_replays_the_completed_key(runtime: Runtime) -> None:
    assert runtime.targets is not None
    subject, key = f"b-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    claim = IdempotencyClaim(subject, "disburse_loan", key, "c" * 64)
    resource = str(uuid.uuid4())
    first = await asyncpg.connect(runtime.targets.direct_core)
    second = await asyncpg.connect(runtime.targets.direct_core)
    try:
        for conn in (first, second):
            await configure_connection(conn)
        tx = first.transaction()
        await tx.start()
        assert await claim_or_replay(PgUnitOfWork(first), claim) is None

        async def duplicate() -> str | None:
            async with second.transaction():
                return await claim_or_replay(PgUnitOfWork(second), claim)

        waiting = asyncio.create_task(duplicate())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits on the first's claim
        await PgUnitOfWork(first).record(
            AuditRecord(_call(subject), "payment", resource), [_event(resource)], completes=claim
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()  # until the first commits
        await tx.commit()
        assert await asyncio.wait_for(waiting, 10) == resource
    finally:
        await first.close()
        await second.close()
