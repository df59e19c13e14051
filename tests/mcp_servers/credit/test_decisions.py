"""The review queue, reviews, approval with maker-checker and adverse-action notices through MCP tools
(real PostgreSQL). Scores come from tests/helpers/risk.py: REFER_BUREAU gives 595
(refer), APPROVE_BUREAU 790 (approve once the identity is verified)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.common import error_code
from tests.helpers.errors import error_message
from tests.helpers.risk import (
    APPROVE,
    APPROVE_BUREAU,
    ASSESSMENT,
    GET,
    NOTICE,
    QUEUE,
    REFER_BUREAU,
    REVIEW,
    SUBMIT,
    TIMELINE,
    accept_offer,
    assessments,
    call,
    refused,
    scored,
    submitted,
    timeline,
    uid,
    verify_kyc,
)
from tools.platform.principal import Role

COMMENT = "payslips and bank statement agree with the declared income"
LONGEST = "a" * 1900  # the longest comment a review or an approval takes


async def referred(client: Client, principal: Any, filer: str | None = None) -> dict[str, Any]:
    """Submitted and scored without a verified identity at 595: under review."""
    app = await submitted(client, principal, filer=filer)
    await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    return app


async def accepted(
    client: Client, principal: Any, db: asyncpg.Connection, **overrides: Any
) -> dict[str, Any]:
    """Identity and income verified, scored 790 (approve: open for bids), offer accepted by the borrower."""
    app = await submitted(client, principal, **overrides)
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    await accept_offer(db, app, app["borrower_id"])
    return app


async def review(
    client: Client, principal: Any, app: dict[str, Any], decision: str, comment: str = COMMENT
) -> tuple[str, dict[str, Any]]:
    reviewer = uid("op-rev")
    principal(reviewer, Role.OPERATOR)
    return reviewer, await call(
        client, REVIEW, {"application": app["id"], "decision": decision, "comment": comment}
    )


async def status_of(client: Client, principal: Any, app: dict[str, Any]) -> str:
    principal(uid("op-look"), Role.OPERATOR)
    return str((await call(client, GET, {"application": app["id"]}))["status"])


async def test_the_review_queue_lists_referred_applications_oldest_first_page_by_page(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    mine = [await referred(client, principal) for _ in range(3)]
    principal(uid("op-rev"), Role.OPERATOR)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(client, QUEUE, {"limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    ids = [i["id"] for i in items]
    assert (
        len(ids)
        == len(set(ids))
        == await core_db.fetchval("SELECT count(*) FROM caas_core.applications WHERE status = 'under_review'")
    )
    keys = [(datetime.fromisoformat(i["referred_at"]), i["id"]) for i in items]
    assert keys == sorted(keys)
    assert [i for i in ids if i in {a["id"] for a in mine}] == [a["id"] for a in mine]
    first = items[ids.index(mine[0]["id"])]
    assert (first["reference"], first["borrower_id"]) == (mine[0]["reference"], mine[0]["borrower_id"])
    assert (first["score"], first["grade"]) == (595, "D")
    assert [r["code"] for r in first["reasons"]] == [
        "condition.identity_not_verified",
        "score.bureau_score",
        "score.recent_delinquencies",
        "score.purpose",
    ]
    assert await refused(client, QUEUE, {"cursor": "bm90LWEtY3Vyc29y"}) == "invalid_argument"
    principal(mine[0]["borrower_id"], Role.BORROWER)
    assert await refused(client, QUEUE, {}) == "permission_denied"


async def test_a_reviewer_opens_a_referred_application_for_bids_and_the_timeline_keeps_the_comment(
    client: Client, principal: Any
) -> None:
    app = await referred(client, principal)
    reviewer, result = await review(client, principal, app, "open_for_bids")
    assert (result["status"], result["reasons"], result["reference"]) == (
        "open_for_bids",
        [],
        app["reference"],
    )
    last = (await timeline(client, app))[-1]
    assert (last["from_status"], last["to_status"], last["actor_id"]) == (
        "under_review",
        "open_for_bids",
        reviewer,
    )
    assert COMMENT in last["reason"]
    assert await refused(client, NOTICE, {"application": app["id"]}) == "not_found"


async def test_a_review_decline_stores_a_notice_whose_first_reason_is_the_comment(
    client: Client, principal: Any
) -> None:
    app = await referred(client, principal)
    _, result = await review(client, principal, app, "decline")
    assert (result["status"], result["approved"]) == ("declined", False)
    principal(app["borrower_id"], Role.BORROWER)
    notice = await call(client, NOTICE, {"application": app["reference"]})
    assert notice["reasons"][0] == {"code": "review.declined", "message": COMMENT, "points_lost": 0}
    # Then the assessment's own reasons, cut to four in all; a condition (identity still to verify) is
    # not a reason for the decline, so it is left out.
    assert [r["code"] for r in notice["reasons"][1:]] == [
        "score.bureau_score",
        "score.recent_delinquencies",
        "score.purpose",
    ]
    assert notice["reasons"] == result["reasons"]
    assert COMMENT in notice["notice_text"]


async def test_requesting_information_sends_it_back_to_draft_for_the_borrower_to_update_and_resubmit(
    client: Client, principal: Any
) -> None:
    app = await referred(client, principal)
    _, result = await review(client, principal, app, "request_information")
    assert (result["status"], result["approved"]) == ("draft", False)

    principal(app["borrower_id"], Role.BORROWER)
    changes = {"application": app["id"], "changes": {"amount": "150000.00"}}
    assert (await call(client, "credit_update_application", changes))["status"] == "draft"
    assert (await call(client, SUBMIT, {"draft": app["reference"]}))["status"] == "submitted"
    view = await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    assert (view["inputs"]["requested_amount"], view["application_status"]) == ("150000.00", "under_review")
    steps = [e["to_status"] for e in await timeline(client, app)]
    assert steps == ["submitted", "under_review", "draft", "submitted", "under_review"]


async def test_a_review_needs_a_real_comment_and_a_refused_one_changes_nothing(
    client: Client, principal: Any
) -> None:
    app = await referred(client, principal)
    before = await timeline(client, app)
    principal(uid("op-rev"), Role.OPERATOR)
    for comment in ("too short", " " * 12, LONGEST + "a"):
        args = {"application": app["id"], "decision": "decline", "comment": comment}
        assert await refused(client, REVIEW, args) == "invalid_argument", len(comment)
    assert (
        await refused(client, REVIEW, {"application": app["id"], "decision": "decline"}) == "invalid_argument"
    )
    bad_decision = {"application": app["id"], "decision": "maybe", "comment": COMMENT}
    assert await refused(client, REVIEW, bad_decision) == "invalid_argument"
    assert await timeline(client, app) == before
    assert await status_of(client, principal, app) == "under_review"

    await review(client, principal, app, "request_information", LONGEST)
    assert (await timeline(client, app))[-1]["reason"].endswith(LONGEST)  # the longest comment, whole


async def test_the_operator_who_filed_an_application_cannot_review_it(client: Client, principal: Any) -> None:
    filer = uid("op-filer")
    app = await referred(client, principal, filer=filer)
    principal(filer, Role.OPERATOR)
    args = {"application": app["id"], "decision": "open_for_bids", "comment": COMMENT}
    assert await refused(client, REVIEW, args) == "permission_denied"
    assert await status_of(client, principal, app) == "under_review"


async def test_only_an_application_under_review_can_be_reviewed(client: Client, principal: Any) -> None:
    fresh = await submitted(client, principal)
    reviewed = await referred(client, principal)
    await review(client, principal, reviewed, "open_for_bids")
    principal(uid("op-rev"), Role.OPERATOR)
    for app in (fresh, reviewed):
        args = {"application": app["id"], "decision": "decline", "comment": COMMENT}
        assert await refused(client, REVIEW, args) == "conflict"
    assert await status_of(client, principal, fresh) == "submitted"
    assert await status_of(client, principal, reviewed) == "open_for_bids"


async def test_approval_needs_verified_identity_and_income_and_the_conflict_names_what_is_missing(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await referred(client, principal)  # no documents yet: refer, then a reviewer opens it
    await review(client, principal, app, "open_for_bids")
    await accept_offer(core_db, app, app["borrower_id"])
    checker = uid("op-checker")
    for verified, missing in (((), ("identity", "income")), (("national_id",), ("income",))):
        if verified:
            await verify_kyc(client, principal, app, *verified)
        principal(checker, Role.OPERATOR)
        result = await client.call_tool(
            APPROVE, {"application": app["id"], "comment": COMMENT}, raise_on_error=False
        )
        assert error_code(result) == "conflict"
        message = error_message(result)
        assert [word for word in ("identity", "income") if word in message] == list(missing)
        assert await assessments(core_db, app, "approval") == 0
    await verify_kyc(client, principal, app, "bank_statement")
    principal(checker, Role.OPERATOR)
    assert (await call(client, APPROVE, {"application": app["id"], "comment": COMMENT}))[
        "status"
    ] == "approved"


async def test_a_checker_approves_an_accepted_offer_and_approving_again_is_a_conflict(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await accepted(client, principal, core_db)
    checker = uid("op-checker")
    principal(checker, Role.OPERATOR)
    result = await call(client, APPROVE, {"application": app["reference"], "comment": LONGEST})
    assert (result["approved"], result["status"], result["reasons"]) == (True, "approved", [])
    last = (await timeline(client, app))[-1]
    assert (last["from_status"], last["to_status"], last["actor_id"]) == (
        "offer_accepted",
        "approved",
        checker,
    )
    assert last["reason"].endswith(LONGEST)
    # The re-check is stored with the same inputs, the bureau's report included.
    recheck = await call(client, ASSESSMENT, {"application": app["id"]})
    assert (recheck["stage"], recheck["score"], recheck["recommendation"]) == ("approval", 790, "approve")
    assert (recheck["inputs"]["bureau_score"], recheck["inputs"]["kyc_verified"]) == (790, True)
    events = await core_db.fetch("SELECT event_type FROM caas_core.outbox WHERE aggregate_id = $1", app["id"])
    assert [e["event_type"] for e in events].count("application.approved") == 1

    principal(uid("op-checker"), Role.OPERATOR)
    assert await refused(client, APPROVE, {"application": app["id"], "comment": COMMENT}) == "conflict"
    assert await assessments(core_db, app, "approval") == 1


@pytest.mark.parametrize("maker", ["filed", "reviewed", "last changed"])
async def test_whoever_filed_reviewed_or_last_changed_it_cannot_approve_it(
    client: Client, principal: Any, core_db: asyncpg.Connection, maker: str
) -> None:
    op = uid("op-maker")
    app = await submitted(client, principal, filer=op if maker == "filed" else None)
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    if maker == "reviewed":  # 595 refers even with a verified identity
        await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
        principal(op, Role.OPERATOR)
        await call(
            client, REVIEW, {"application": app["id"], "decision": "open_for_bids", "comment": COMMENT}
        )
    else:
        await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    if maker == "last changed":  # an operator accepted the offer on the borrower's behalf
        await accept_offer(core_db, app, op, "operator")
    else:
        await accept_offer(core_db, app, app["borrower_id"])

    principal(op, Role.OPERATOR)
    # The timeline shows the maker-checker rule as approval applies it: the maker's step, and no.
    # An operator who filed it also submitted it: the refusal names the latest step.
    latest = "submitted" if maker == "filed" else maker
    seen = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert (seen["you_made"], seen["you_may_approve"]) == (latest, False)
    assert {"subject": op, "step": maker} in [{k: m[k] for k in ("subject", "step")} for m in seen["makers"]]
    args = {"application": app["id"], "comment": COMMENT}
    result = await client.call_tool(APPROVE, args, raise_on_error=False)
    assert error_code(result) == "permission_denied" and f"you {latest} " in error_message(result)
    assert await assessments(core_db, app, "approval") == 0
    assert await status_of(client, principal, app) == "offer_accepted"
    checker = uid("op-checker")
    principal(checker, Role.OPERATOR)
    seen = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert (seen["you_made"], seen["you_may_approve"]) == (None, True)
    assert checker not in {m["subject"] for m in seen["makers"]}
    assert (await call(client, APPROVE, {"application": app["id"], "comment": COMMENT}))["approved"] is True
    seen = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert seen["you_may_approve"] is False  # approved: nothing left to approve
    principal(app["borrower_id"], Role.BORROWER)
    assert (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"] is None


async def test_the_service_role_approves_up_to_the_operator_limit_for_the_currency_but_not_above(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    # NGN limit 5000000. Income 1500000: DTI 34.83% and 3.33x income, 730 (A) either way.
    at_limit, above = [
        await accepted(client, principal, core_db, amount=amount, monthly_income="1500000.00")
        for amount in ("5000000.00", "5000000.01")
    ]
    principal(uid("svc-approvals"), Role.SERVICE)
    assert (await call(client, APPROVE, {"application": at_limit["id"], "comment": COMMENT}))[
        "approved"
    ] is True
    assert (
        await refused(client, APPROVE, {"application": above["id"], "comment": COMMENT})
        == "permission_denied"
    )
    assert await assessments(core_db, above, "approval") == 0
    principal(uid("op-checker"), Role.OPERATOR)
    assert (await call(client, APPROVE, {"application": above["id"], "comment": COMMENT}))["approved"] is True


async def test_a_failed_policy_recheck_declines_with_a_notice(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await accepted(client, principal, core_db)
    # Arrange only: the obligations grew to 200000.00 since scoring, so DTI after is 49.87% (limit 45%).
    await core_db.execute(
        "UPDATE caas_core.applications SET monthly_obligations_minor = 20000000 WHERE id = $1",
        uuid.UUID(app["id"]),
    )
    checker = uid("op-checker")
    principal(checker, Role.OPERATOR)
    result = await call(client, APPROVE, {"application": app["id"], "comment": COMMENT})
    assert (result["approved"], result["status"]) == (False, "declined")
    assert [r["code"] for r in result["reasons"]] == ["policy.dti_above_limit"]
    assert "49.87%" in result["reasons"][0]["message"]
    last = (await timeline(client, app))[-1]
    assert (last["from_status"], last["to_status"], last["actor_id"]) == (
        "offer_accepted",
        "declined",
        checker,
    )
    assert await assessments(core_db, app, "approval") == 1
    principal(app["borrower_id"], Role.BORROWER)
    assert (await call(client, NOTICE, {"application": app["id"]}))["reasons"] == result["reasons"]


async def test_concurrent_approvals_have_exactly_one_winner(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await accepted(client, principal, core_db)
    principal(uid("op-checker"), Role.OPERATOR)
    args = {"application": app["id"], "comment": COMMENT}
    results = await asyncio.gather(*(client.call_tool(APPROVE, args, raise_on_error=False) for _ in range(6)))
    assert sorted(error_code(r) or "ok" for r in results) == ["conflict"] * 5 + ["ok"]
    assert [e["to_status"] for e in await timeline(client, app)].count("approved") == 1
    assert await assessments(core_db, app, "approval") == 1
