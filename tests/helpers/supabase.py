"""Events of one application as the use cases write them, and reads of the Supabase mirror, for
the sync tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from tools.notifications.ports import StatusMirror
from tools.platform.jobs import Job
from tools.platform.ports import Clock, SystemClock


class Journey:
    """Events of one application, as the use cases write them (no personal data, no provider id, so
    only the application's queues take them)."""

    def __init__(self) -> None:
        self.app_id = uuid.uuid4()
        self.loan_id = uuid.uuid4()
        self.borrower = str(uuid.uuid4())
        self.reference = f"CAAS-2026-{self.app_id.hex[:10]}"
        self.status: str | None = None

    def application(self, status: str, amount: str | None = "250000.00") -> tuple[str, dict[str, Any]]:
        payload = {
            "application_id": str(self.app_id),
            "reference": self.reference,
            "borrower_id": self.borrower,
            "from_status": self.status,
            "status": status,
            "reason": "free text that must not reach the feed",
            "currency": "NGN",
            "amount": amount,
            "term_months": 12 if amount else None,
            "purpose": "business",
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        self.status = status
        return f"application.{status}", payload

    def loan(self, event: str, status: str) -> tuple[str, dict[str, Any]]:
        return f"loan.{event}", {
            "loan_id": str(self.loan_id),
            "application_id": str(self.app_id),
            "borrower_id": self.borrower,
            "status": status,
            "currency": "NGN",
            "principal": "250000.0000",
            "occurred_at": datetime.now(UTC).isoformat(),
        }

    def repayment(self, status_after: str) -> tuple[str, dict[str, Any]]:
        return "loan.repayment_recorded", {
            "loan_id": str(self.loan_id),
            "application_id": str(self.app_id),
            "borrower_id": self.borrower,
            "repayment_id": str(uuid.uuid4()),
            "currency": "NGN",
            "amount_minor": 2_300_000,
            "status_after": status_after,
            "paid_at": datetime.now(UTC).isoformat(),
        }

    def payment(self, kind: str, status: str) -> tuple[str, dict[str, Any]]:
        return f"payment.{status}", {
            "payment_id": str(uuid.uuid4()),
            "application_id": str(self.app_id),
            "loan_id": str(self.loan_id),
            "kind": kind,
            "status": status,
            "currency": "NGN",
            "amount_minor": 25_000_000,
        }

    def document(self, document_id: uuid.UUID, status: str) -> tuple[str, dict[str, Any]]:
        return f"document.{'registered' if status == 'pending' else status}", {
            "document_id": str(document_id),
            "application_id": str(self.app_id),
            "document_type": "national_id",
            "status": status,
            "registered_at": datetime.now(UTC).isoformat(),
        }


STEPS: list[tuple[str, Any, int]] = [
    ("application", ("draft", None), 10),
    ("application", ("submitted",), 20),
    ("application", ("under_review",), 30),
    ("application", ("open_for_bids",), 45),
    ("application", ("offer_accepted",), 60),
    ("application", ("approved",), 75),
    ("loan", ("originated", "pending_disbursement"), 80),
    ("payment", ("disbursement", "sent"), 80),
    ("application", ("disbursed",), 90),
    ("loan", ("active", "active"), 90),
    ("payment", ("disbursement", "succeeded"), 90),
    ("payment", ("collection", "succeeded"), 90),
    ("repayment", ("active",), 90),
    ("repayment", ("closed",), 100),
]


async def emit(core_db: asyncpg.Connection, event: tuple[str, dict[str, Any]]) -> uuid.UUID:
    event_type, payload = event
    event_id = uuid.uuid4()
    await core_db.execute(
        "INSERT INTO caas_core.outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
        " VALUES ($1, $2, $3, $4, $5)",
        event_id,
        event_type.split(".")[0],
        payload["application_id"],
        event_type,
        payload,
    )
    return event_id


async def mirror_row(supa: asyncpg.Connection, app_id: uuid.UUID) -> asyncpg.Record | None:
    return await supa.fetchrow("SELECT * FROM public.application_status WHERE application_id = $1", app_id)


async def feed(supa: asyncpg.Connection, app_id: uuid.UUID) -> list[str]:
    rows = await supa.fetch(
        "SELECT kind FROM public.user_activities WHERE application_id = $1 ORDER BY id", app_id
    )
    return [r["kind"] for r in rows]


def job(j_id: int, event: tuple[str, dict[str, Any]], event_id: uuid.UUID | None = None) -> Job:
    event_type, payload = event
    return Job(
        id=j_id,
        queue="supabase_sync",
        ordering_key=f"application:{payload['application_id']}",
        event_id=event_id or uuid.uuid4(),
        event_type=event_type,
        payload=payload,
        attempts=0,
        created_at=datetime.now(UTC),
    )


@dataclass(frozen=True)
class MirrorOnly:
    """``tools.notifications.ports.MirrorSources`` around one mirror: what the Supabase sync needs."""

    mirror: StatusMirror
    clock: Clock = field(default_factory=SystemClock)
    observe_lag: Callable[[float], None] = lambda _seconds: None


# What a hosted Supabase project grants before any migration of ours runs (supabase/postgres
# init scripts and storage-api's first migration): everything in public, and in storage, to the API
# roles, for existing objects and through default privileges for every object created later. Tests
# apply it first so that they see the grants production sees, not the empty ones of plain PostgreSQL.
HOSTED_DEFAULTS = """
DO $$
DECLARE
    spec text;
BEGIN
    FOREACH spec IN ARRAY ARRAY['anon NOLOGIN', 'authenticated NOLOGIN',
                                'service_role NOLOGIN BYPASSRLS'] LOOP
        BEGIN
            EXECUTE 'CREATE ROLE ' || spec;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END LOOP;
END;
$$;
CREATE SCHEMA IF NOT EXISTS storage;
GRANT USAGE ON SCHEMA public, storage TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON TABLES TO anon, authenticated, service_role;
"""


async def apply_hosted_defaults(dsn: str) -> None:
    """Give a new, empty database the grants of a new hosted Supabase project."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(HOSTED_DEFAULTS)
    finally:
        await conn.close()
