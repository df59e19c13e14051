"""Migration 0031 gives an upgraded database each application's count of the uploads it already has,
so the allowance (tools/credit/domain/documents.MAX_DOCUMENT_UPLOADS) counts them too."""

from __future__ import annotations

from typing import Any

import asyncpg

from database import migrate

_APPLICATION = """
INSERT INTO caas_core.applications (id, reference, borrower_id, created_by, created_by_role, status,
    applicant_name, applicant_email, applicant_country, currency)
VALUES ($1::uuid, $2, 'b-1', 'b-1', 'borrower', 'draft', 'T', 't@example.com', 'NG', 'NGN')
"""
_UPLOAD = """
INSERT INTO caas_core.document_uploads (id, application_id, document_type, file_name, media_type,
    size_bytes, storage, object_path, requested_by, requested_by_role, expires_at)
SELECT gen_random_uuid(), $1::uuid, 'national_id', 'f.pdf', 'application/pdf', 10, 'local',
    $1 || '/' || n || '/f.pdf', 'b-1', 'borrower', now()
FROM generate_series(1, $2::int) AS n
"""
A, B, C = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


async def test_the_migration_counts_the_uploads_an_application_already_has(fresh_database: Any) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        await migrate.migrate(conn, "core")
        (allowance,) = [m for m in migrate.load("core") if m.version == 31]
        # The database as a release before 0031 left it: uploads, and no count of them.
        await conn.execute("ALTER TABLE caas_core.applications DROP COLUMN document_uploads")
        for app, uploads in ((A, 3), (B, 1), (C, 0)):
            await conn.execute(_APPLICATION, app, f"CAAS-T-{app[-1]}")
            await conn.execute(_UPLOAD, app, uploads)
        await conn.execute(allowance.sql)
        counted = await conn.fetch(
            "SELECT id::text, document_uploads FROM caas_core.applications ORDER BY id"
        )
        assert [tuple(r) for r in counted] == [(A, 3), (B, 1), (C, 0)]
    finally:
        await conn.close()
