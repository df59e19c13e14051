"""Risk assessments, adverse-action notices and the review queue in ``caas_core``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from database.platform.audit import Connection
from tools.risk.ports import StoredAssessment, StoredNotice

__all__ = ["PgRiskReader", "PgRiskWriter"]

_ASSESSMENT = "id, application_id, model_version, stage, inputs, result, assessed_by, assessed_at"


def _assessment(row: asyncpg.Record) -> StoredAssessment:
    return StoredAssessment(**dict(row.items()))


class PgRiskWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None:
        return await PgRiskReader(self._conn).latest_assessment(application_id)

    async def add_assessment(
        self,
        application_id: UUID,
        model_version: str,
        stage: str,
        inputs: dict[str, Any],
        result: dict[str, Any],
        assessed_by: str,
    ) -> StoredAssessment:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO caas_core.risk_assessments
                (application_id, model_version, stage, inputs, score, pd, grade, recommendation, result,
                 assessed_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING {_ASSESSMENT}
            """,
            application_id,
            model_version,
            stage,
            inputs,
            int(result["score"]),
            result["pd"],
            result["grade"],
            result["recommendation"],
            result,
            assessed_by,
        )
        assert row is not None
        return _assessment(row)

    async def add_notice(
        self,
        application_id: UUID,
        assessment_id: UUID | None,
        reasons: list[dict[str, Any]],
        text: str,
        by: str,
    ) -> None:
        await self._conn.execute(
            "INSERT INTO caas_core.adverse_action_notices "
            "(application_id, assessment_id, reasons, notice_text, issued_by) VALUES ($1, $2, $3, $4, $5)",
            application_id,
            assessment_id,
            reasons,
            text,
            by,
        )


class PgRiskReader:
    def __init__(self, pool: asyncpg.Pool | Connection) -> None:
        self._pool = pool

    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None:
        row = await self._pool.fetchrow(
            f"SELECT {_ASSESSMENT} FROM caas_core.risk_assessments WHERE application_id = $1 "
            "ORDER BY assessed_at DESC, id DESC LIMIT 1",
            application_id,
        )
        return _assessment(row) if row else None

    async def notice(self, application_id: UUID) -> StoredNotice | None:
        row = await self._pool.fetchrow(
            "SELECT reasons, notice_text, issued_at FROM caas_core.adverse_action_notices "
            "WHERE application_id = $1",
            application_id,
        )
        return StoredNotice(**dict(row.items())) if row else None

    async def review_queue(self, after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]:
        """Referred applications, oldest referral first, with their latest assessment."""
        rows = await self._pool.fetch(
            """
            SELECT a.id, a.reference, a.borrower_id, a.status_changed_at AS referred_at,
                   r.score, r.grade, r.result -> 'reasons' AS reasons
            FROM caas_core.applications a
            LEFT JOIN LATERAL (
                SELECT score, grade, result FROM caas_core.risk_assessments
                WHERE application_id = a.id ORDER BY assessed_at DESC, id DESC LIMIT 1
            ) r ON true
            WHERE a.status = 'under_review'
              AND ($1::timestamptz IS NULL OR (a.status_changed_at, a.id) > ($1, $2::uuid))
            ORDER BY a.status_changed_at, a.id
            LIMIT $3
            """,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [dict(r.items()) for r in rows]
