"""KYC documents and their upload requests in ``caas_core``: the reader (pool) and the writer."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from uuid import UUID

import asyncpg

from database.platform.audit import Connection, audit_args, audit_row_sql, iso_timestamp_sql
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.documents import DocumentRecord, NewDocument, NewUpload, UploadRecord
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation
from tools.platform.principal import Principal

__all__ = ["PgDocumentReader", "PgDocumentWriter"]

_NEW_UPLOAD = [f.name for f in fields(NewUpload)]
_UPLOAD = [f.name for f in fields(UploadRecord)]
_NEW_DOCUMENT = [f.name for f in fields(NewDocument)]
_DOCUMENT = [f.name for f in fields(DocumentRecord)]
_SELECT_UPLOAD = f"SELECT {', '.join(_UPLOAD)} FROM caas_core.document_uploads"
_SELECT_DOCUMENT = f"SELECT {', '.join(_DOCUMENT)} FROM caas_core.documents"
_APPLICATION = [f.name for f in fields(ApplicationRecord)]
# The document, locked, and its application as read (not locked), in one round trip.
_LOCK_WITH_APPLICATION = f"""
SELECT {", ".join(f"d.{c}" for c in _DOCUMENT)}, {", ".join(f"a.{c} AS app_{c}" for c in _APPLICATION)}
FROM caas_core.documents d JOIN caas_core.applications a ON a.id = d.application_id
WHERE d.id = $1 FOR NO KEY UPDATE OF d
"""


def _placeholders(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


# The statements below write their change, its audit row and its event together (issue 14): one round
# trip, atomic without a transaction around it. Each event is built from the written row, as
# ``tools.credit.documents`` builds it in Python (tests compare the two).
def _document_event(event_type_sql: str, fields: str) -> str:
    return f"""
, event AS (
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT 'document', id::text, {event_type_sql},
           jsonb_build_object('document_id', id::text, 'application_id', application_id::text,
                              'document_type', document_type, 'status', status, {fields})
    FROM written
)"""


_REGISTERED_FIELDS = f"""'media_type', media_type, 'size_bytes', size_bytes,
                              'registered_by', registered_by,
                              'registered_at', {iso_timestamp_sql("registered_at")}"""
_DECIDED_FIELDS = f"""'decided_by', decided_by, 'decided_at', {iso_timestamp_sql("decided_at")}"""
_N_UPLOAD = len(_NEW_UPLOAD)
# The application's count of uploads goes up in the same statement, only while under the bound; its
# row lock makes a concurrent request for the same application wait and then see the new count.
_INSERT_UPLOAD_RECORDED = f"""
WITH counted AS (
    UPDATE caas_core.applications SET document_uploads = document_uploads + 1
    WHERE id = $2 AND document_uploads < ${_N_UPLOAD + 1}
    RETURNING id
), written AS (
    INSERT INTO caas_core.document_uploads ({", ".join(_NEW_UPLOAD)})
    SELECT {_placeholders(_N_UPLOAD)} FROM counted
    RETURNING *
), audit AS ({audit_row_sql(_N_UPLOAD + 2, "document_upload", "id::text", "written")}
)
SELECT {", ".join(_UPLOAD)} FROM written
"""
_N_DOCUMENT = len(_NEW_DOCUMENT)
_REGISTER = f"""
WITH claimed AS (
    UPDATE caas_core.document_uploads SET status = 'registered'
    WHERE id = ${_N_DOCUMENT + 1} AND status = 'pending'
    RETURNING id
), written AS (
    INSERT INTO caas_core.documents ({", ".join(_NEW_DOCUMENT)})
    SELECT {_placeholders(_N_DOCUMENT)} FROM claimed
    RETURNING *
), audit AS ({audit_row_sql(_N_DOCUMENT + 2, "document", "id::text", "written")}
){_document_event("'document.registered'", _REGISTERED_FIELDS)}
SELECT {", ".join(_DOCUMENT)} FROM written
"""
_DECIDE_RECORDED = f"""
WITH written AS (
    UPDATE caas_core.documents
    SET status = $2, decided_by = $3, decided_by_role = $4, decision_reason = $5, decided_at = now(),
        updated_at = now(), version = version + 1
    WHERE id = $1 AND status = 'pending'
    RETURNING *
), audit AS ({audit_row_sql(6, "document", "id::text", "written")}
){_document_event("'document.' || status", _DECIDED_FIELDS)}
SELECT {", ".join(_DOCUMENT)} FROM written
"""


_REOPEN_RECORDED = f"""
WITH written AS (
    UPDATE caas_core.documents
    SET status = 'pending', decided_by = NULL, decided_by_role = NULL, decision_reason = NULL,
        decided_at = NULL, updated_at = now(), version = version + 1
    WHERE application_id = $1 AND status = 'verified' AND document_type = ANY($2::text[])
    RETURNING *
), audit AS ({audit_row_sql(3, "document", "id::text", "written")}
){_document_event("'document.pending'", f"'occurred_at', {iso_timestamp_sql('updated_at')}")}
SELECT count(*) FROM written
"""


def _upload(row: asyncpg.Record) -> UploadRecord:
    return UploadRecord(**dict(row.items()))


def _document(row: asyncpg.Record) -> DocumentRecord:
    return DocumentRecord(**dict(row.items()))


class PgDocumentReader:
    def __init__(self, pool: asyncpg.Pool | Connection) -> None:
        self._pool = pool

    async def get_upload(self, upload_id: UUID) -> UploadRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT_UPLOAD} WHERE id = $1", upload_id)
        return _upload(row) if row else None

    async def pending_uploads(self, application_id: UUID, document_type: str) -> list[UploadRecord]:
        rows = await self._pool.fetch(
            f"{_SELECT_UPLOAD} WHERE application_id = $1 AND document_type = $2 AND status = 'pending' "
            "ORDER BY created_at, id",
            application_id,
            document_type,
        )
        return [_upload(r) for r in rows]

    async def find_by_sha256(self, application_id: UUID, sha256: str) -> DocumentRecord | None:
        row = await self._pool.fetchrow(
            f"{_SELECT_DOCUMENT} WHERE application_id = $1 AND sha256 = $2", application_id, sha256
        )
        return _document(row) if row else None

    async def list_for_application(
        self, application_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[DocumentRecord]:
        at, last = after if after is not None else (None, None)
        rows = await self._pool.fetch(
            f"{_SELECT_DOCUMENT} WHERE application_id = $1"
            " AND ($2::timestamptz IS NULL OR (registered_at, id) > ($2, $3::uuid))"
            " ORDER BY registered_at, id LIMIT $4",
            application_id, at, last, limit,
        )  # fmt: skip
        return [_document(r) for r in rows]

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT document_type FROM caas_core.documents "
            "WHERE application_id = $1 AND status = 'verified'",
            application_id,
        )
        return {r["document_type"] for r in rows}


class PgDocumentWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        return await PgDocumentReader(self._conn).verified_document_types(application_id)

    async def insert_upload(self, new: NewUpload, call: Invocation, *, at_most: int) -> UploadRecord | None:
        row = await self._conn.fetchrow(
            _INSERT_UPLOAD_RECORDED, *(getattr(new, c) for c in _NEW_UPLOAD), at_most, *audit_args(call)
        )
        return _upload(row) if row else None

    async def register(self, upload_id: UUID, new: NewDocument, call: Invocation) -> DocumentRecord | None:
        try:
            row = await self._conn.fetchrow(
                _REGISTER, *(getattr(new, c) for c in _NEW_DOCUMENT), upload_id, *audit_args(call)
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "documents_application_sha256_key":
                raise
            raise Conflict(
                "this application already has a document with this SHA-256; the same file is registered "
                "once (call list_documents)"
            ) from None
        return _document(row) if row else None

    async def lock(self, document_id: UUID) -> tuple[DocumentRecord, ApplicationRecord] | None:
        row = await self._conn.fetchrow(_LOCK_WITH_APPLICATION, document_id)
        if row is None:
            return None
        app = ApplicationRecord(**{c: row[f"app_{c}"] for c in _APPLICATION})
        return DocumentRecord(**{c: row[c] for c in _DOCUMENT}), app

    async def reopen(self, application_id: UUID, document_types: set[str], call: Invocation) -> int:
        if not document_types:
            return 0
        found = await self._conn.fetchval(
            _REOPEN_RECORDED, application_id, sorted(document_types), *audit_args(call)
        )
        return int(found or 0)

    async def decide(
        self, document_id: UUID, status: str, decided_by: Principal, reason: str | None, call: Invocation
    ) -> DocumentRecord:
        row = await self._conn.fetchrow(
            _DECIDE_RECORDED,
            document_id,
            status,
            decided_by.subject,
            decided_by.role.value,
            reason,
            *audit_args(call),
        )
        if row is None:
            raise Conflict(f"document {document_id} is no longer pending; call list_documents")
        return _document(row)
