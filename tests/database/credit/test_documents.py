"""The documents tables hold their rules even for writes that bypass the use cases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP

from database.credit.applications import PgApplicationWriter
from database.credit.documents import PgDocumentReader, PgDocumentWriter
from mcp_servers.runtime import Runtime
from tests.helpers.common import application
from tests.helpers.statements import Counted
from tools.credit.documents import decided_event, registered_event
from tools.credit.domain.documents import MAX_DOCUMENT_UPLOADS, NewDocument, NewUpload
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

CHECK_VIOLATION = "23514"


@pytest.fixture
async def tx(core_db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that is rolled back, so these rows never reach other tests."""
    t = core_db.transaction()
    await t.start()
    try:
        yield core_db
    finally:
        await t.rollback()


@pytest.fixture
async def app_id(server: FastMCP, principal: Any) -> uuid.UUID:
    """A fresh application, filed through the credit tool so it is whatever the lifecycle makes it."""
    principal(f"b-{uuid.uuid4().hex[:12]}", Role.BORROWER)
    async with Client(server) as c:
        app = (
            await c.call_tool("credit_submit_application", {"application": application()})
        ).structured_content
    return uuid.UUID(app["id"])


CALL = Invocation(Principal("maker", Role.BORROWER), "credit.register_document", "0" * 64, "req-docs")


async def upload(db: asyncpg.Connection, app_id: uuid.UUID, kind: str = "passport") -> uuid.UUID:
    upload_id = uuid.uuid4()
    path = f"{app_id}/{upload_id}/f.pdf"
    new = NewUpload(
        upload_id,
        app_id,
        kind,
        "f.pdf",
        "application/pdf",
        10,
        "local",
        path,
        "maker",
        "borrower",
        datetime.now(UTC) + timedelta(hours=2),
    )
    assert await PgDocumentWriter(db).insert_upload(new, CALL, at_most=MAX_DOCUMENT_UPLOADS) is not None
    return upload_id


def new_document(app_id: uuid.UUID, upload_id: uuid.UUID, digest: str, kind: str) -> NewDocument:
    path = f"{app_id}/{upload_id}/f.pdf"
    return NewDocument(
        app_id,
        upload_id,
        kind,
        "f.pdf",
        "application/pdf",
        10,
        "local",
        path,
        digest,
        "maker",
        "maker",
        "borrower",
    )


async def document(
    db: asyncpg.Connection, app_id: uuid.UUID, digest: str, kind: str = "passport"
) -> uuid.UUID:
    writer = PgDocumentWriter(db)
    upload_id = await upload(db, app_id, kind)
    doc = await writer.register(upload_id, new_document(app_id, upload_id, digest, kind), CALL)
    assert doc is not None
    # A second registration of the same upload writes nothing.
    assert await writer.register(upload_id, new_document(app_id, upload_id, "e" * 64, kind), CALL) is None
    return doc.id


async def test_the_reader_returns_only_verified_types(
    core_db: asyncpg.Connection, runtime: Runtime, app_id: uuid.UUID
) -> None:
    writer = PgDocumentWriter(core_db)
    reader = PgDocumentReader(runtime.core_pool)  # type: ignore[arg-type]
    checker = Principal("checker", Role.OPERATOR)
    passport = await document(core_db, app_id, uuid.uuid4().hex * 2, "passport")
    statement = await document(core_db, app_id, uuid.uuid4().hex * 2, "bank_statement")
    await document(core_db, app_id, uuid.uuid4().hex * 2, "proof_of_income")  # stays pending
    assert await reader.verified_document_types(app_id) == set()
    await writer.decide(passport, "verified", checker, None, CALL)
    await writer.decide(statement, "rejected", checker, "blurred", CALL)
    assert await reader.verified_document_types(app_id) == {"passport"}
    with pytest.raises(Conflict):
        await writer.decide(passport, "rejected", checker, "again", CALL)
    assert await reader.verified_document_types(uuid.uuid4()) == set()


async def test_the_same_file_twice_on_one_application_is_a_conflict(
    tx: asyncpg.Connection, app_id: uuid.UUID
) -> None:
    await document(tx, app_id, "c" * 64)
    second = await upload(tx, app_id)
    with pytest.raises(Conflict):
        async with tx.transaction():
            await PgDocumentWriter(tx).register(
                second, new_document(app_id, second, "c" * 64, "passport"), CALL
            )
    # One statement: the refused registration left its upload pending.
    status = "SELECT status FROM caas_core.document_uploads WHERE id = $1"
    assert await tx.fetchval(status, second) == "pending"


async def test_each_write_is_one_statement_with_its_audit_row_and_the_event_python_builds(
    tx: asyncpg.Connection, app_id: uuid.UUID
) -> None:
    writer = PgDocumentWriter(tx)
    upload_id = await upload(tx, app_id)
    doc = await writer.register(upload_id, new_document(app_id, upload_id, "f" * 64, "passport"), CALL)
    assert doc is not None and doc.status == "pending"
    decided = await writer.decide(doc.id, "verified", Principal("checker", Role.OPERATOR), None, CALL)
    audited = await tx.fetch(
        "SELECT object_type, object_id, tool, request_id FROM caas_audit.audit_log "
        "WHERE object_id = ANY($1::text[]) ORDER BY id",
        [str(upload_id), str(doc.id)],
    )
    assert [tuple(r) for r in audited] == [
        ("document_upload", str(upload_id), CALL.tool, "req-docs"),
        ("document", str(doc.id), CALL.tool, "req-docs"),
        ("document", str(doc.id), CALL.tool, "req-docs"),
    ]
    events = await tx.fetch(
        "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
        "WHERE aggregate_id = $1 ORDER BY id",
        str(doc.id),
    )
    for stored, expected in zip(events, [registered_event(doc), decided_event(decided)], strict=True):
        assert (stored["aggregate_type"], stored["aggregate_id"], stored["event_type"]) == (
            expected.aggregate_type,
            expected.aggregate_id,
            expected.event_type,
        )
        assert stored["payload"] == expected.payload


@pytest.mark.parametrize(
    "update",
    [
        "status = 'verified', decided_by = 'maker', decided_by_role = 'operator', decided_at = now()",
        "status = 'rejected', decided_by = 'checker', decided_by_role = 'operator', decided_at = now()",
        "status = 'verified'",
        "status = 'verified', decided_by = 'checker', decided_by_role = 'borrower', decided_at = now()",
    ],
    ids=["maker decides", "rejection without reason", "decision without decider", "borrower decides"],
)
async def test_the_table_refuses_decisions_the_rules_forbid(
    tx: asyncpg.Connection, app_id: uuid.UUID, update: str
) -> None:
    doc_id = await document(tx, app_id, "d" * 64)
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        async with tx.transaction():
            await tx.execute(f"UPDATE caas_core.documents SET {update} WHERE id = $1", doc_id)
    assert caught.value.sqlstate == CHECK_VIOLATION


async def test_a_lock_holds_the_document_and_reads_its_application_in_one_statement(
    tx: asyncpg.Connection, app_id: uuid.UUID
) -> None:
    doc_id = await document(tx, app_id, "a" * 64)
    counted = Counted(tx)
    locked = await PgDocumentWriter(counted).lock(doc_id)  # type: ignore[arg-type]
    assert counted.sent == 1 and locked is not None
    doc, app = locked
    assert (doc.id, doc.status, doc.application_id) == (doc_id, "pending", app_id)
    assert app == await PgApplicationWriter(tx).lock(str(app_id))
    assert await PgDocumentWriter(tx).lock(uuid.uuid4()) is None
