"""The risk service through a real MCP client on real PostgreSQL.

Expected scores are hand-computed from risk_model.md; the arithmetic of the default application is
in tests/helpers/risk.py. Age 23 scores 25 (20 below the best), bureau 600 scores 15 (90 below),
one delinquency 10 (30 below), and DTI 49.87% scores 10 (100 below) and breaks the 45% limit.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.common import application, error_code
from tests.helpers.risk import (
    APPROVE_BUREAU,
    ASSESSMENT,
    BATCH,
    GET,
    NOTICE,
    REFER_BUREAU,
    SCORE,
    SIMULATE,
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
from tools.risk.domain.scorecard import MODEL_VERSION

# Age 23, obligations 200000.00: (200000 + 24371.78) / 450000 = 0.4987 after the loan.
DECLINE_BUREAU = {"bureau_score": 600, "recent_delinquencies": 1}
DECLINE_OVERRIDES = {"monthly_obligations": "200000.00"}


def scoring_inputs(age: int, obligations: str, bureau: dict[str, Any], kyc: bool) -> dict[str, Any]:
    return {
        "monthly_income": "450000.00",
        "employment_status": "employed",
        "months_in_employment": 30,
        "monthly_obligations": obligations,
        "requested_amount": "250000.00",
        "term_months": 12,
        "purpose": "business",
        "age_years": age,
        "bureau_score": bureau["bureau_score"],
        "recent_delinquencies": bureau["recent_delinquencies"],
        "kyc_verified": kyc,
    }


async def app_rows(db: asyncpg.Connection, table: str, app: dict[str, Any]) -> list[asyncpg.Record]:
    column = {"caas_core.outbox": "aggregate_id", "caas_audit.audit_log": "object_id"}[table]
    return await db.fetch(f"SELECT * FROM {table} WHERE {column} = $1 ORDER BY id", app["id"])


@pytest.mark.parametrize(
    ("age", "overrides", "bureau", "identity", "expected"),
    [
        # 600 + age 40 (45) + bureau 790 (105) + none late (40) = 790: A, approve (identity verified).
        pytest.param(40, {}, APPROVE_BUREAU, True, (790, "A", "approve", "open_for_bids"), id="approve"),
        # 600 + 45 - 40 - 10 = 595: D, between the cut-offs.
        pytest.param(40, {}, REFER_BUREAU, False, (595, "D", "refer", "under_review"), id="refer"),
        # 300 + DTI 10 + LTI 70 + employed 80 + age 25 + bureau 15 + late 10 + business 10 + term 30 = 550,
        # between the cut-offs, but DTI 49.87% breaks the 45% hard rule.
        pytest.param(
            23, DECLINE_OVERRIDES, DECLINE_BUREAU, False, (550, "D", "decline", "declined"), id="decline"
        ),
    ],
)
async def test_scoring_routes_the_application_and_records_assessment_timeline_events_and_audit(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    age: int,
    overrides: dict[str, Any],
    bureau: dict[str, Any],
    identity: bool,
    expected: tuple[int, str, str, str],
) -> None:
    app = await submitted(client, principal, age, **overrides)
    if identity:
        await verify_kyc(client, principal, app, "national_id")
    scorer = uid("op-score")
    view = await scored(client, principal, app, bureau, scorer)

    assert (view["score"], view["grade"], view["recommendation"], view["application_status"]) == expected
    assert (view["model_version"], view["stage"], view["application_id"]) == (
        MODEL_VERSION,
        "scoring",
        app["id"],
    )
    assert view["installment_estimate"] == "24371.78"
    assert view["dti_after"] == ("0.4987" if overrides else "0.1320")
    obligations = overrides.get("monthly_obligations", "35000.00")
    # The application's currency: its figures round to that currency's minor unit.
    assert view["inputs"] == {**scoring_inputs(age, obligations, bureau, identity), "currency": "NGN"}
    principal(app["borrower_id"], Role.BORROWER)  # the borrower reads exactly what was stored
    assert await call(client, ASSESSMENT, {"application": app["reference"]}) == view
    assert (await call(client, GET, {"application": app["id"]}))["status"] == expected[3]

    last = (await timeline(client, app))[-1]
    assert (last["from_status"], last["to_status"], last["actor_id"]) == ("submitted", expected[3], scorer)
    assert str(expected[0]) in last["reason"]
    events = {e["event_type"]: e["payload"] for e in await app_rows(core_db, "caas_core.outbox", app)}
    assert events["risk.assessed"] == {
        "application_id": app["id"],
        "assessment_id": view["id"],
        "score": expected[0],
        "grade": expected[1],
        "recommendation": expected[2],
    }
    assert events[f"application.{expected[3]}"]["from_status"] == "submitted"
    audits = [
        (a["principal_id"], a["principal_role"], a["outcome"])
        for a in await app_rows(core_db, "caas_audit.audit_log", app)
        if a["tool"] == "risk.score_application"
    ]
    assert audits == [(scorer, "operator", "succeeded")]
    notice = await client.call_tool(NOTICE, {"application": app["id"]}, raise_on_error=False)
    assert (error_code(notice) == "not_found") == (expected[2] != "decline")


async def test_a_decline_gives_the_borrower_a_notice_with_hard_rules_first_then_the_costliest_reasons(
    client: Client, principal: Any
) -> None:
    app = await submitted(client, principal, 23, **DECLINE_OVERRIDES)
    view = await scored(client, principal, app, DECLINE_BUREAU, uid("op-score"))
    principal(app["borrower_id"], Role.BORROWER)
    notice = await call(client, NOTICE, {"application": app["reference"]})

    # Age and purpose each lose only 20 points: at most four reasons are kept, so they are left out.
    assert [(r["code"], r["points_lost"]) for r in notice["reasons"]] == [
        ("policy.dti_above_limit", 0),
        ("score.debt_to_income", 100),
        ("score.bureau_score", 90),
        ("score.recent_delinquencies", 30),
    ]
    assert "49.87%" in notice["reasons"][0]["message"] and "45%" in notice["reasons"][0]["message"]
    assert "600" in notice["reasons"][2]["message"]
    assert notice["reasons"] == view["reasons"]
    assert notice["reference"] == app["reference"]
    assert all(r["message"] in notice["notice_text"] for r in notice["reasons"])

    principal(uid("b"), Role.BORROWER)
    assert await refused(client, NOTICE, {"application": app["id"]}) == "not_found"


async def test_only_a_submitted_application_is_scored_and_a_refusal_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    # Verified identity, 595: referred on the score. Scored again at 790 it must not skip the reviewer.
    twice = await submitted(client, principal)
    await verify_kyc(client, principal, twice, "national_id")
    await scored(client, principal, twice, REFER_BUREAU, uid("op-score"))
    withdrawn = await submitted(client, principal)
    await call(client, "credit_withdraw_application", {"application": withdrawn["id"]})
    draft = await call(client, "credit_draft_application", {"application": application()})

    principal(uid("op-score"), Role.OPERATOR)
    for app, stored, status in ((twice, 1, "under_review"), (withdrawn, 0, "withdrawn"), (draft, 0, "draft")):
        args = {"application": app["reference"], "bureau": APPROVE_BUREAU}
        assert await refused(client, SCORE, args) == "conflict", status
        assert await assessments(core_db, app) == stored
        assert (await call(client, GET, {"application": app["id"]}))["status"] == status


@pytest.mark.parametrize("role", [Role.BORROWER, Role.AGENT, Role.PROVIDER])
async def test_borrowers_agents_and_providers_cannot_score(
    client: Client, principal: Any, core_db: asyncpg.Connection, role: Role
) -> None:
    app = await submitted(client, principal)
    principal(app["borrower_id"] if role is Role.BORROWER else uid(role.value), role)
    assert await refused(client, SCORE, {"application": app["id"]}) == "permission_denied"
    assert await refused(client, BATCH, {"applications": [app["id"]]}) == "permission_denied"
    assert await assessments(core_db, app) == 0
    principal(uid("op"), Role.OPERATOR)
    assert (await call(client, GET, {"application": app["id"]}))["status"] == "submitted"


async def test_bad_bureau_data_is_invalid_and_changes_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await submitted(client, principal)
    events = len(await app_rows(core_db, "caas_core.outbox", app))
    principal(uid("op-score"), Role.OPERATOR)
    for bureau in (
        {"bureau_score": 200},
        {"bureau_score": 851},
        {"recent_delinquencies": -1},
        {"bureau_score": 700, "fico": 700},
    ):
        args = {"application": app["id"], "bureau": bureau}
        assert await refused(client, SCORE, args) == "invalid_argument", bureau
    assert await refused(client, SCORE, {"application": app["id"], "colour": "red"}) == "invalid_argument"
    assert await assessments(core_db, app) == 0
    assert len(await app_rows(core_db, "caas_core.outbox", app)) == events
    assert (await call(client, GET, {"application": app["id"]}))["status"] == "submitted"
    assert (await call(client, SCORE, {"application": app["id"], "bureau": REFER_BUREAU}))["score"] == 595


async def test_an_assessment_is_not_found_before_scoring_or_for_someone_else(
    client: Client, principal: Any
) -> None:
    app = await submitted(client, principal)
    assert await refused(client, ASSESSMENT, {"application": app["id"]}) == "not_found"
    await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    principal(uid("b"), Role.BORROWER)
    assert await refused(client, ASSESSMENT, {"application": app["id"]}) == "not_found"


SIMULATION = scoring_inputs(40, "35000.00", APPROVE_BUREAU, True)


async def totals(db: asyncpg.Connection) -> tuple[int, ...]:
    tables = ("caas_core.risk_assessments", "caas_core.adverse_action_notices", "caas_core.outbox")
    return tuple([await db.fetchval(f"SELECT count(*) FROM {t}") for t in (*tables, "caas_audit.audit_log")])


async def test_a_simulation_is_deterministic_and_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    principal(uid("b"), Role.BORROWER)  # anyone who may read assessments may ask what-if
    before = await totals(core_db)
    declined = {**SIMULATION, "monthly_obligations": "200000.00", "age_years": 23, **DECLINE_BUREAU}
    first = [await call(client, SIMULATE, {"inputs": i}) for i in (SIMULATION, declined)]
    second = [await call(client, SIMULATE, {"inputs": i}) for i in (SIMULATION, declined)]
    assert first == second
    assert [(v["score"], v["recommendation"], v["id"], v["assessed_at"]) for v in first] == [
        (790, "approve", None, None),
        (550, "decline", None, None),
    ]
    assert await totals(core_db) == before


@pytest.mark.parametrize(
    ("changes", "lower", "higher", "scores"),
    [
        # DTI 49.87% (10 points, over the limit) -> 24.94% (95): +85, and no longer declined.
        (
            {"monthly_obligations": "200000.00", "age_years": 23, **DECLINE_BUREAU},
            "450000",
            "900000",
            (550, 635),
        ),
        # DTI 13.20% -> 12.91%: the same bins, the same score.
        ({}, "450000", "460000", (790, 790)),
        # Amount 1.25x income (60) -> 1x (70), DTI 29.69% -> 23.75% (both 95): +10.
        ({}, "200000", "250000", (765, 775)),
    ],
)
async def test_more_income_never_lowers_the_score(
    client: Client, principal: Any, changes: dict[str, Any], lower: str, higher: str, scores: tuple[int, int]
) -> None:
    principal(uid("op"), Role.OPERATOR)
    got = [
        (await call(client, SIMULATE, {"inputs": {**SIMULATION, **changes, "monthly_income": income}}))[
            "score"
        ]
        for income in (lower, higher)
    ]
    assert tuple(got) == scores and got[1] >= got[0]


async def test_bad_simulation_inputs_are_invalid(client: Client, principal: Any) -> None:
    principal(uid("b"), Role.BORROWER)
    for change in (
        {"monthly_income": "0"},
        {"monthly_obligations": "-1"},
        {"term_months": 0},
        {"age_years": -1},
        {"bureau_score": 200},
        {"recent_delinquencies": -1},
        {"employment_status": "pirate"},
        {"stage": "final"},
        {"colour": "red"},
    ):
        assert await refused(client, SIMULATE, {"inputs": {**SIMULATION, **change}}) == "invalid_argument", (
            change
        )
    principal(uid("p"), Role.PROVIDER)
    assert await refused(client, SIMULATE, {"inputs": SIMULATION}) == "permission_denied"


async def test_a_batch_reports_progress_per_application_and_both_successes_and_failures(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    apps = [await submitted(client, principal) for _ in range(3)]
    scorer = uid("op-score")
    await scored(client, principal, apps[0], REFER_BUREAU, scorer)  # already scored: the batch must refuse it
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    args = {"applications": [a["reference"] for a in apps], "bureau": REFER_BUREAU}
    report = (await client.call_tool(BATCH, args, progress_handler=progress)).structured_content

    assert (report["scored"], report["failed"]) == (2, 1)
    assert [(i["application"], i["outcome"], i["status"]) for i in report["items"]] == [
        (apps[0]["reference"], "conflict", None),
        (apps[1]["reference"], "refer", "under_review"),
        (apps[2]["reference"], "refer", "under_review"),
    ]
    assert report["items"][0]["error"] and report["items"][1]["error"] is None
    # The in-memory transport delivers progress on the call's own stream.
    assert [(done, total) for done, total, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(a["reference"] in (message or "") for a, (*_, message) in zip(apps, seen, strict=True))
    assert [await assessments(core_db, a) for a in apps] == [1, 1, 1]


async def test_the_model_document_is_a_resource_naming_the_model_version(client: Client) -> None:
    assert "caas://risk/model" in [str(r.uri) for r in await client.list_resources()]
    contents = await client.read_resource("caas://risk/model")
    assert len(contents) == 1
    assert MODEL_VERSION in contents[0].text
    assert "approve_cutoff" in contents[0].text
