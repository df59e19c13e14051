"""The sync use case refuses, for good, an event it can never apply (a retry could not fix it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers.supabase import MirrorOnly
from tools.notifications.ports import (
    Activity,
    Applied,
    DocumentUpdate,
    MirrorEvent,
    StatusUpdate,
    SyncResult,
)
from tools.notifications.supabase_sync import sync_event
from tools.platform.jobs import Job, PermanentFailure


class NoMirror:
    """Fails the test if the use case writes anything."""

    async def apply_events(self, events: Sequence[MirrorEvent]) -> list[SyncResult]:
        raise AssertionError("nothing should be written")

    async def apply_status(self, update: StatusUpdate) -> Applied:
        raise AssertionError("nothing should be written")

    async def apply_document(self, update: DocumentUpdate) -> Applied:
        raise AssertionError("nothing should be written")

    async def record_activity(self, activity: Activity) -> bool:
        raise AssertionError("nothing should be written")

    async def ensure_profile(self, user_id: str) -> None:
        raise AssertionError("nothing should be written")

    async def borrower_of(self, application_id: uuid.UUID) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


EVENT = uuid.UUID(int=1)


def job(event_type: str, payload: dict[str, Any], event_id: uuid.UUID | None = EVENT) -> Job:
    return Job(1, "supabase_sync", None, event_id, event_type, payload, 0, datetime.now(UTC))


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("application.submitted", {"application_id": "not-a-uuid", "status": "submitted"}),
        ("application.submitted", {"application_id": str(uuid.uuid4()), "status": "submitted"}),
        (
            "application.submitted",
            {
                "application_id": str(uuid.uuid4()),
                "reference": "R",
                "borrower_id": "b",
                "status": "submitted",
                "currency": "NGN",
                "amount": "lots",
            },
        ),
        ("document.verified", {"application_id": str(uuid.uuid4()), "document_id": "nope"}),
    ],
    ids=["bad-application-id", "no-reference", "amount-not-a-number", "bad-document-id"],
)
async def test_an_event_missing_what_the_mirror_needs_fails_for_good(event_type, payload) -> None:
    mirror = NoMirror()
    if event_type.startswith("document."):
        mirror.borrower_of = _owner  # type: ignore[method-assign]
    with pytest.raises(PermanentFailure):
        await sync_event(MirrorOnly(mirror), job(event_type, payload))


async def _owner(_application_id: uuid.UUID) -> str:
    return "borrower-1"


async def test_a_job_without_an_event_id_fails_for_good() -> None:
    with pytest.raises(PermanentFailure):
        await sync_event(MirrorOnly(NoMirror()), job("application.draft", {}, event_id=None))
