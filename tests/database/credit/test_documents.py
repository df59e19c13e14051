"""The documents tables hold their rules even for writes that bypass the use cases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP

from database.credit.documents import PgDocumentReader, PgDocumentWriter
from mcp_servers.runtime import Runtime
from tests.helpers.common import application
from tools.credit.domain.documents import NewDocument, NewUpload
from tools.platform.errors import Conflict
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


async def document(
    db: asyncpg.Connection, app_id: uuid.UUID, digest: str, kind: str = "passport"
) -> uuid.UUID:
    maker = "maker"
    writer = PgDocumentWriter(db)
    upload_id = uuid.uuid4()
    path = f"{app_id}/{upload_id}/f.pdf"
    await writer.insert_upload(
        NewUpload(
            upload_id,
            app_id,
            kind,
            "f.pdf",
            "application/pdf",
            10,
            "local",
            path,
            maker,
            "borrower",
            datetime.now(UTC) + timedelta(hours=2),
        )
    )
    assert await writer.claim_upload(upload_id)
    assert not await writer.claim_upload(upload_id)  # a second claim of the same upload fails
    doc = await writer.insert(
        NewDocument(
            app_id,
            upload_id,
            kind,
            "f.pdf",
            "application/pdf",
            10,
            "local",
            path,
            digest,
            maker,
            maker,
            "borrower",
        )
    )
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
    await writer.decide(passport, "verified", checker, None)
    await writer.decide(statement, "rejected", checker, "blurred")
    assert await reader.verified_document_types(app_id) == {"passport"}
    with pytest.raises(Conflict):
        await writer.decide(passport, "rejected", checker, "again")
    assert await reader.verified_document_types(uuid.uuid4()) == set()


async def test_the_same_file_twice_on_one_application_is_a_conflict(
    tx: asyncpg.Connection, app_id: uuid.UUID
) -> None:
    await document(tx, app_id, "c" * 64)
    with pytest.raises(Conflict):
        await document(tx, app_id, "c" * 64)
    # The savepoint kept the transaction usable.
    assert await tx.fetchval("SELECT 1") == 1


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
