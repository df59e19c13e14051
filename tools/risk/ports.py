"""What the risk use cases need: assessments and adverse-action notices in storage, and their
dependency dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from tools.credit.ports import ApplicationReader, CreditUnitOfWork, DocumentReader
from tools.platform.ports import Clock, PersonalDataVault, UnitOfWorkFactory
from tools.risk.domain.scorecard import DEFAULT_POLICY, RiskPolicy

__all__ = ["RiskDeps", "RiskReader", "RiskWriter", "ScoringSources", "StoredAssessment", "StoredNotice"]


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
    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None:
        """As ``RiskReader``'s, inside the transaction (no second pooled connection)."""
        ...

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


class ScoringSources(Protocol):
    """What scoring an application reads besides the application: its documents, its sealed personal
    data and the date (both the risk and the credit dependencies have them)."""

    @property
    def documents(self) -> DocumentReader: ...

    @property
    def vault(self) -> PersonalDataVault: ...

    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True, slots=True)
class RiskDeps:
    """What the risk use cases get; built in ``mcp_servers.wiring``."""

    uow: UnitOfWorkFactory[CreditUnitOfWork]
    applications: ApplicationReader
    documents: DocumentReader
    risk: RiskReader
    vault: PersonalDataVault
    clock: Clock
    policy: RiskPolicy = DEFAULT_POLICY
