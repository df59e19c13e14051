"""Applications, KYC documents and risk assessments in memory, with the semantics of
``database/credit/applications.py``, ``database/credit/documents.py`` and ``database/risk/assessments.py``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tests.fakes.marketplace import expire_active_bids, expire_invitations
from tests.fakes.store import FakeStore, Tables, Transaction, UniqueViolation, not_implemented
from tools.credit.domain.applications import ApplicationRecord, NewApplication, Transition
from tools.credit.domain.documents import DocumentRecord, NewDocument, NewUpload, UploadRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import status_event
from tools.credit.ports import ApplicationQuery, FileCheck, UploadTarget
from tools.marketplace.domain.bids import BidRecord, BidStatus
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal
from tools.risk.ports import StoredAssessment, StoredNotice

__all__ = [
    "FakeApplicationReader",
    "FakeApplicationWriter",
    "FakeDocumentReader",
    "FakeDocumentStore",
    "FakeDocumentWriter",
    "FakeRiskReader",
    "FakeRiskWriter",
    "find_application",
]

_REFERENCE = re.compile(r"^CAAS-\d{4}-\d{6,}$")
_NEW = [f.name for f in fields(NewApplication)]


def find_application(tables: Tables, id_or_reference: str) -> ApplicationRecord | None:
    """By CAAS-YYYY-NNNNNN reference or by id; None for anything else (as the Pg ``_key``)."""
    key = id_or_reference.strip()
    if _REFERENCE.match(key):
        return next((a for a in tables.applications.values() if a.reference == key), None)
    try:
        return tables.applications.get(UUID(key))
    except ValueError:
        return None


class FakeApplicationReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get(self, id_or_reference: str) -> ApplicationRecord | None:
        return find_application(self._store.tables, id_or_reference)

    async def list(self, query: ApplicationQuery) -> list[ApplicationRecord]:
        raise not_implemented("ApplicationReader.list")

    async def timeline(self, application_id: UUID) -> Sequence[Transition]:
        return list(self._store.tables.application_transitions.get(application_id, []))

    async def offer_valid_until(self, application_id: UUID) -> datetime | None:
        accepted = [
            b.valid_until
            for b in self._store.tables.bids.values()
            if b.application_id == application_id and b.status == BidStatus.ACCEPTED
        ]
        return accepted[0] if accepted else None


class FakeApplicationWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def insert(
        self, new: NewApplication, reason: str, call: Invocation | None = None
    ) -> ApplicationRecord:
        tables, now = self._tx.tables, self._tx.now
        tables.application_sequence += 1
        app = ApplicationRecord(
            **{name: getattr(new, name) for name in _NEW},
            id=uuid4(),
            reference=f"CAAS-{now:%Y}-{tables.application_sequence:06d}",
            created_at=now,
            submitted_at=now if new.status == ApplicationStatus.SUBMITTED else None,
            updated_at=now,
            status_changed_at=now,
            updated_by=new.created_by,
            version=1,
        )
        tables.applications[app.id] = app
        first = Transition(None, new.status, new.created_by, new.created_by_role, reason, now)
        tables.application_transitions[app.id] = [first]
        if call is not None:
            tables.audit.append(AuditRecord(call, "application", str(app.id)))
            tables.outbox.append(status_event(app, None, reason))
        return app

    async def lock(self, id_or_reference: str) -> ApplicationRecord | None:
        return find_application(self._tx.tables, id_or_reference)

    async def lock_stale_open(self, opened_before: datetime, limit: int) -> list[ApplicationRecord]:
        raise not_implemented("ApplicationWriter.lock_stale_open")

    async def has_loan(self, application_id: UUID) -> bool:
        raise not_implemented("ApplicationWriter.has_loan")

    async def lock_lapsed_offers(self, now: datetime, limit: int) -> list[ApplicationRecord]:
        raise not_implemented("ApplicationWriter.lock_lapsed_offers")

    async def end_active_bids(self, application_id: UUID, *, lapsed: bool) -> list[BidRecord]:
        expire_invitations(self._tx.tables, application_id, tally=lapsed)
        return expire_active_bids(self._tx.tables, application_id)

    async def move(
        self,
        app: ApplicationRecord,
        to_status: str,
        actor: Principal,
        reason: str,
        call: Invocation | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> ApplicationRecord:
        tables, now = self._tx.tables, self._tx.now
        stored = tables.applications[app.id]
        moved = replace(
            stored,
            status=to_status,
            status_changed_at=now,
            updated_at=now,
            version=stored.version + 1,
            updated_by=actor.subject,
            submitted_at=now if to_status == ApplicationStatus.SUBMITTED else stored.submitted_at,
        )
        tables.applications[app.id] = moved
        entry = Transition(app.status, to_status, actor.subject, actor.role.value, reason, now)
        tables.application_transitions.setdefault(app.id, []).append(entry)
        if call is not None:
            tables.audit.append(AuditRecord(call, "application", str(app.id)))
            tables.outbox.extend([status_event(moved, app.status, reason), *events])
        return moved

    async def update_draft(self, app_id: UUID, new: NewApplication, actor: Principal) -> ApplicationRecord:
        raise not_implemented("ApplicationWriter.update_draft")

    async def timeline(self, application_id: UUID) -> Sequence[Transition]:
        return list(self._tx.tables.application_transitions.get(application_id, []))


class FakeDocumentReader:
    """Documents are arranged as the set of verified document types of an application."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get_upload(self, upload_id: UUID) -> UploadRecord | None:
        raise not_implemented("DocumentReader.get_upload")

    async def pending_uploads(self, application_id: UUID, document_type: str) -> list[UploadRecord]:
        raise not_implemented("DocumentReader.pending_uploads")

    async def find_by_sha256(self, application_id: UUID, sha256: str) -> DocumentRecord | None:
        raise not_implemented("DocumentReader.find_by_sha256")

    async def list_for_application(
        self, application_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[DocumentRecord]:
        raise not_implemented("DocumentReader.list_for_application")

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        return set(self._store.tables.verified_documents.get(application_id, set()))


class FakeDocumentWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def verified_document_types(self, application_id: UUID) -> set[str]:
        return set(self._tx.tables.verified_documents.get(application_id, set()))

    async def insert_upload(self, new: NewUpload, call: Invocation, *, at_most: int) -> UploadRecord | None:
        raise not_implemented("DocumentWriter.insert_upload")

    async def register(self, upload_id: UUID, new: NewDocument, call: Invocation) -> DocumentRecord | None:
        raise not_implemented("DocumentWriter.register")

    async def lock(self, document_id: UUID) -> tuple[DocumentRecord, ApplicationRecord] | None:
        raise not_implemented("DocumentWriter.lock")

    async def reopen(self, application_id: UUID, document_types: set[str], call: Invocation) -> int:
        verified = self._tx.tables.verified_documents.get(application_id, set())
        reopened = verified & document_types
        verified -= reopened
        return len(reopened)

    async def decide(
        self, document_id: UUID, status: str, decided_by: Principal, reason: str | None, call: Invocation
    ) -> DocumentRecord:
        raise not_implemented("DocumentWriter.decide")


class FakeDocumentStore:
    kind = "memory"

    async def upload_target(self, object_path: str, media_type: str) -> UploadTarget:
        raise not_implemented("DocumentStore.upload_target")

    async def check(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck:
        raise not_implemented("DocumentStore.check")

    async def aclose(self) -> None:
        return None


class FakeRiskReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None:
        mine = [a for a in self._store.tables.assessments if a.application_id == application_id]
        return mine[-1] if mine else None

    async def notice(self, application_id: UUID) -> StoredNotice | None:
        return self._store.tables.notices.get(application_id)

    async def review_queue(self, after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]:
        raise not_implemented("RiskReader.review_queue")


class FakeRiskWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def latest_assessment(self, application_id: UUID) -> StoredAssessment | None:
        mine = [a for a in self._tx.tables.assessments if a.application_id == application_id]
        return mine[-1] if mine else None

    async def add_assessment(
        self,
        application_id: UUID,
        model_version: str,
        stage: str,
        inputs: dict[str, Any],
        result: dict[str, Any],
        assessed_by: str,
    ) -> StoredAssessment:
        stored = StoredAssessment(
            uuid4(), application_id, model_version, stage, inputs, result, assessed_by, self._tx.now
        )
        self._tx.tables.assessments.append(stored)
        return stored

    async def add_notice(
        self,
        application_id: UUID,
        assessment_id: UUID | None,
        reasons: list[dict[str, Any]],
        text: str,
        by: str,
    ) -> None:
        notices = self._tx.tables.notices
        if application_id in notices:  # adverse_action_notices.application_id is UNIQUE
            raise UniqueViolation(f"application {application_id} already has an adverse-action notice")
        notices[application_id] = StoredNotice(reasons, text, self._tx.now)
