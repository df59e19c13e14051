"""A verified document proves what it was checked against: a draft whose applicant, income or bank
account changes loses those verifications (a probe replaced the whole applicant after a review asked for
more information, and the identity verified for the first person opened the application for bids)."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.risk import (
    APPROVE_BUREAU,
    REFER_BUREAU,
    REVIEW,
    SUBMIT,
    call,
    scored,
    submitted,
    uid,
    verify_kyc,
)
from tests.mcp_servers.credit.test_decisions import COMMENT
from tools.platform.principal import Role

UPDATE = "credit_update_application"


async def sent_back(client: Client, principal: Any) -> dict[str, Any]:
    """Identity and income verified, referred, and sent back to the borrower for more information."""
    app = await submitted(client, principal)
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    principal(uid("op-rev"), Role.OPERATOR)
    args = {"application": app["id"], "decision": "request_information", "comment": COMMENT}
    await call(client, REVIEW, args)
    principal(app["borrower_id"], Role.BORROWER)
    return app


async def verified(db: asyncpg.Connection, app: dict[str, Any]) -> set[str]:
    rows = await db.fetch(
        "SELECT document_type FROM caas_core.documents "
        "WHERE application_id = $1::uuid AND status = 'verified'",
        app["id"],
    )
    return {r["document_type"] for r in rows}


async def test_another_applicant_is_not_proven_by_the_first_ones_identity(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await sent_back(client, principal)
    other = {"full_name": "Chinedu Eze", "national_id": "99999999999", "date_of_birth": "1990-02-03"}
    current = (await call(client, "credit_get_application", {"application": app["id"]}))["applicant"]
    applicant = {k: current[k] for k in ("email", "phone", "country") if k in current} | other
    applicant["bank_account"] = {"bank_code": "058", "account_number": "0123456789"}
    await call(client, UPDATE, {"application": app["id"], "changes": {"applicant": applicant}})
    assert await verified(core_db, app) == {"proof_of_income"}  # identity pending again; income stands
    await call(client, SUBMIT, {"draft": app["id"]})
    view = await scored(client, principal, app, APPROVE_BUREAU, uid("op-score2"))
    assert view["inputs"]["kyc_verified"] is False and view["application_status"] != "open_for_bids"


async def test_a_change_that_proves_nothing_new_keeps_the_verifications(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await sent_back(client, principal)
    await call(client, UPDATE, {"application": app["id"], "changes": {"purpose": "education"}})
    assert await verified(core_db, app) == {"national_id", "proof_of_income"}
    await call(client, UPDATE, {"application": app["id"], "changes": {"monthly_income": "500000.00"}})
    assert await verified(core_db, app) == {"national_id"}
