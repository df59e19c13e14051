"""Helpers for the risk and decision tests: applicants of a chosen age, verified KYC, scoring, and the
one state (offer_accepted) that the marketplace will own, arranged in SQL.

Figures of the default test application (tests.helpers.common.application) under risk_model.md: income
450000.00, obligations 35000.00, amount 250000.00 over 12 months, business, employed 30 months.
Installment at the 30% reference rate: 250000 / 10.257765 = 24371.78. DTI after = 59371.78 / 450000
= 0.1320 (110 points); amount under 1x income (70); employed 24+ months (80); term 12 (30);
business (10, 20 below the best). 300 + 110 + 70 + 80 + 30 + 10 = 600 before age, bureau and
delinquencies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.common import application, error_code
from tests.helpers.documents import VERIFY, registered, scan
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
TIMELINE = "credit_get_application_timeline"
GET = "credit_get_application"
SCORE = "risk_score_application"
BATCH = "risk_score_applications_batch"
ASSESSMENT = "risk_get_risk_assessment"
SIMULATE = "risk_simulate_score"
QUEUE = "credit_list_review_queue"
REVIEW = "credit_review_application"
APPROVE = "credit_approve_application"
NOTICE = "credit_get_adverse_action_notice"

# Age 40 (45) + bureau 790 (105) + no delinquencies (40): 600 + 190 = 790, grade A; approve once the
# identity is verified.
APPROVE_BUREAU = {"bureau_score": 790, "recent_delinquencies": 0}
# Age 40 (45) + bureau 500 (-40) + two delinquencies (-10): 600 - 5 = 595, grade D, between the cut-offs.
REFER_BUREAU = {"bureau_score": 500, "recent_delinquencies": 2}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def born(age: int) -> str:
    """A date of birth that makes the applicant exactly ``age`` today (UTC), as the scorecard counts."""
    today = datetime.now(UTC).date()
    return date(today.year - age, today.month, 1).isoformat()


def body(age: int = 40, **overrides: Any) -> dict[str, Any]:
    payload = application(**overrides)
    payload["applicant"] = {**payload["applicant"], "date_of_birth": born(age)}
    return payload


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    """The error code of a call that is expected to fail (None if it succeeded)."""
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def submitted(
    client: Client, principal: Any, age: int = 40, filer: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A fresh borrower submits an application for themselves, or the operator ``filer`` files it."""
    if filer is None:
        principal(uid("b"), Role.BORROWER)
    else:
        principal(filer, Role.OPERATOR)
        overrides["borrower_id"] = uid("b")
    return await call(client, SUBMIT, {"application": body(age, **overrides)})


async def verify_kyc(client: Client, principal: Any, app: dict[str, Any], *types: str) -> None:
    """The borrower uploads and registers each document; an operator who did neither verifies it."""
    principal(app["borrower_id"], Role.BORROWER)
    docs = [
        await registered(client, app, scan(), document_type=kind, file_name=f"{kind}.pdf") for kind in types
    ]
    principal(uid("op-kyc"), Role.OPERATOR)
    for doc in docs:
        await call(client, VERIFY, {"document": doc["id"], "decision": "verified"})


async def scored(
    client: Client, principal: Any, app: dict[str, Any], bureau: dict[str, Any] | None, scorer: str
) -> dict[str, Any]:
    principal(scorer, Role.OPERATOR)
    args: dict[str, Any] = {"application": app["reference"]}
    if bureau is not None:
        args["bureau"] = bureau
    return await call(client, SCORE, args)


async def timeline(client: Client, app: dict[str, Any]) -> list[dict[str, Any]]:
    return list((await call(client, TIMELINE, {"application": app["id"]}))["entries"])


async def accept_offer(db: asyncpg.Connection, app: dict[str, Any], by: str, role: str = "borrower") -> None:
    """Arrange only: the marketplace will own this move (open_for_bids -> offer_accepted). Like any
    transition it changes the status and appends a timeline entry."""
    await db.execute(
        """
        WITH moved AS (
            UPDATE caas_core.applications
            SET status = 'offer_accepted', status_changed_at = now(), updated_by = $2, version = version + 1
            WHERE id = $1 AND status = 'open_for_bids' RETURNING id
        )
        INSERT INTO caas_core.application_transitions
            (application_id, from_status, to_status, actor_id, actor_role, reason)
        SELECT id, 'open_for_bids', 'offer_accepted', $2, $3, 'offer accepted' FROM moved
        """,
        uuid.UUID(app["id"]),
        by,
        role,
    )
    status = await db.fetchval(
        "SELECT status FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"])
    )
    assert status == "offer_accepted"


async def assessments(db: asyncpg.Connection, app: dict[str, Any], stage: str | None = None) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM caas_core.risk_assessments WHERE application_id = $1 "
            "AND ($2::text IS NULL OR stage = $2)",
            uuid.UUID(app["id"]),
            stage,
        )
    )
