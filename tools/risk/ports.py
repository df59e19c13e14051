"""What the risk use cases need from storage: assessments and adverse-action notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

__all__ = ["RiskReader", "RiskWriter", "StoredAssessment", "StoredNotice"]


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    id: UUID
    application_id: UUID
    model_version: str
    stage: str
    inputs: dict[str, Any]
    result: dict[str, Any]
    assessed_by: str
    assessed_at: datetime


@dataclass(frozen=True, slots=True)
class StoredNotice:
    reasons: list[dict[str, Any]]
    notice_text: str
    issued_at: datetime


class RiskWriter(Protocol):
    async def add_assessment(
        self,
        application_id: UUID,
        model_version: str,
        stage: str,
        inputs: dict[str, Any],
        result: dict[str, Any],
        assessed_by: str,
    ) -> StoredAssessment: ...

    async def add_notice(
        self,
        application_id: UUID,
        assessment_id: UUID | None,
        reasons: list[dict[str, Any]],
        text: str,
        by: str,
    ) -> None: ...


class RiskReader(Protocol):
    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None: ...

    async def notice(self, application_id: UUID) -> StoredNotice | None: ...

    async def review_queue(self, after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]: ...
