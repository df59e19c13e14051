"""The credit tools through a real MCP client on real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.common import application, error_code
from tests.helpers.errors import error_message
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
GET = "credit_get_application"
LIST = "credit_list_applications"
# The credit tools a provider may call: reads of the loans it made and of its own commission.
PROVIDER_READS = {
    "credit_get_loan",
    "credit_get_repayment_schedule",
    "credit_quote_early_settlement",
    "credit_quote_prepayment",
    "credit_list_loans",
    "credit_get_commission_statement",
}


def borrower_id() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


async def counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await db.fetchval("SELECT count(*) FROM caas_core.applications"),
        await db.fetchval("SELECT count(*) FROM caas_audit.audit_log"),
        await db.fetchval("SELECT count(*) FROM caas_core.outbox"),
    )


async def test_borrower_submits_and_gets_a_reference_with_exact_amounts(
    client: Client, principal: Any
) -> None:
    me = borrower_id()
    principal(me, Role.BORROWER)
    result = await client.call_tool(SUBMIT, {"application": application(amount="1234567.89")})
    app = result.structured_content
    assert re.fullmatch(r"CAAS-\d{4}-\d{6,}", app["reference"])
    assert app["status"] == "submitted"
    assert app["borrower_id"] == me
    assert app["requested_amount"] == {"amount": "1234567.89", "currency": "NGN"}
    assert app["monthly_obligations"] == {"amount": "35000.00", "currency": "NGN"}
    assert app["replayed"] is False


async def test_zero_decimal_currency_is_stored_in_minor_units(
    client: Client, principal: Any, core_db
) -> None:
    principal(borrower_id(), Role.BORROWER)
    body = application(currency="JPY", amount="500000", monthly_income="300000", monthly_obligations="0")
    app = (await client.call_tool(SUBMIT, {"application": body})).structured_content
    assert app["requested_amount"] == {"amount": "500000", "currency": "JPY"}
    stored = await core_db.fetchval(
        "SELECT requested_amount_minor FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"])
    )
    assert stored == 500000


async def test_submit_writes_audit_row_and_outbox_event_in_the_same_transaction(
    client: Client, principal: Any, core_db
) -> None:
    me = borrower_id()
    principal(me, Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    audit = await core_db.fetchrow(
        "SELECT * FROM caas_audit.audit_log WHERE object_type = 'application' AND object_id = $1", app["id"]
    )
    assert audit["principal_id"] == me
    assert audit["principal_role"] == "borrower"
    assert audit["tool"] == "credit.submit_application"
    assert audit["outcome"] == "succeeded"
    assert re.fullmatch(r"[0-9a-f]{64}", audit["args_sha256"])
    event = await core_db.fetchrow("SELECT * FROM caas_core.outbox WHERE aggregate_id = $1", app["id"])
    assert event["event_type"] == "application.submitted"
    assert event["payload"]["reference"] == app["reference"]
    assert event["payload"]["amount"] == "250000.00"
    # Events leave the system of record: no personal data in them.
    assert "adaeze" not in str(event["payload"]).lower()


BAD_INPUTS = {
    "unknown top-level field": {"application": application(), "colour": "blue"},
    "unknown nested field": {"application": application(nickname="Ada")},
    "zero amount": {"application": application(amount="0")},
    "negative amount": {"application": application(amount="-5.00")},
    "too many decimals for NGN": {"application": application(amount="100.001")},
    "decimals on a zero-decimal currency": {
        "application": application(
            currency="JPY", amount="100.5", monthly_income="300000", monthly_obligations="0"
        )
    },
    "unknown currency": {"application": application(currency="ZZZ")},
    "lower-case currency": {"application": application(currency="ngn")},
    "non-money currency code": {"application": application(currency="XAU")},
    "term of zero": {"application": application(term_months=0)},
    "term too long": {"application": application(term_months=121)},
    "malformed email": {
        "application": application(applicant={**application()["applicant"], "email": "not-an-email"})
    },
    "oversized name": {
        "application": application(applicant={**application()["applicant"], "full_name": "A" * 201})
    },
    "oversized purpose detail": {"application": application(purpose_detail="x" * 501)},
    "unknown country": {
        "application": application(applicant={**application()["applicant"], "country": "XX"})
    },
    "unknown purpose": {"application": application(purpose="yacht")},
    "zero income": {"application": application(monthly_income="0")},
    "float-looking garbage amount": {"application": application(amount="12abc")},
    "idempotency key too short": {"application": application(), "idempotency_key": "abc"},
}


@pytest.mark.parametrize("arguments", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
async def test_bad_input_is_invalid_argument_and_stores_nothing(
    client: Client, principal: Any, core_db, arguments: dict[str, Any]
) -> None:
    principal(borrower_id(), Role.BORROWER)
    before = await counts(core_db)
    result = await client.call_tool(SUBMIT, arguments, raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    message = error_message(result)
    assert "call again" in message
    assert "Traceback" not in message
    assert await counts(core_db) == before


async def test_error_message_names_the_field_without_echoing_the_value(
    client: Client, principal: Any
) -> None:
    principal(borrower_id(), Role.BORROWER)
    secret_email = "leaky-address-at-example"
    body = application(applicant={**application()["applicant"], "email": secret_email})
    result = await client.call_tool(SUBMIT, {"application": body}, raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    assert "application.applicant.email" in error_message(result)
    assert secret_email not in error_message(result)


async def test_same_idempotency_key_and_arguments_return_the_first_application(
    client: Client, principal: Any, core_db
) -> None:
    principal(borrower_id(), Role.BORROWER)
    key = f"idem-{uuid.uuid4()}"
    first = (
        await client.call_tool(SUBMIT, {"application": application(), "idempotency_key": key})
    ).structured_content
    before = await counts(core_db)
    again = (
        await client.call_tool(SUBMIT, {"application": application(), "idempotency_key": key})
    ).structured_content
    assert again["id"] == first["id"]
    assert again["reference"] == first["reference"]
    assert again["replayed"] is True
    # The same amounts written without their decimals are the same application (a probe's find: its
    # digest hashed the text, so a client that dropped ".00" on a retry was told conflict).
    plain = application(amount="250000", monthly_income="450000")
    assert application()["amount"] == "250000.00" and application()["monthly_income"] == "450000.00"
    retried = await client.call_tool(SUBMIT, {"application": plain, "idempotency_key": key})
    assert retried.structured_content["id"] == first["id"]
    assert await counts(core_db) == before


async def test_same_idempotency_key_with_other_arguments_is_a_conflict(
    client: Client, principal: Any, core_db
) -> None:
    principal(borrower_id(), Role.BORROWER)
    key = f"idem-{uuid.uuid4()}"
    await client.call_tool(SUBMIT, {"application": application(), "idempotency_key": key})
    before = await counts(core_db)
    result = await client.call_tool(
        SUBMIT, {"application": application(amount="999.00"), "idempotency_key": key}, raise_on_error=False
    )
    assert error_code(result) == "conflict"
    assert await counts(core_db) == before


async def test_idempotency_keys_are_scoped_to_the_caller(client: Client, principal: Any) -> None:
    key = f"idem-{uuid.uuid4()}"
    principal(borrower_id(), Role.BORROWER)
    mine = (
        await client.call_tool(SUBMIT, {"application": application(), "idempotency_key": key})
    ).structured_content
    principal(borrower_id(), Role.BORROWER)
    theirs = (
        await client.call_tool(SUBMIT, {"application": application(), "idempotency_key": key})
    ).structured_content
    assert theirs["id"] != mine["id"]
    assert theirs["replayed"] is False


async def test_concurrent_duplicates_with_one_key_create_exactly_one_application(
    server, principal: Any, core_db
) -> None:
    me = borrower_id()
    principal(me, Role.BORROWER)
    key = f"idem-{uuid.uuid4()}"
    async with Client(server) as c:
        results = await asyncio.gather(
            *(c.call_tool(SUBMIT, {"application": application(), "idempotency_key": key}) for _ in range(12))
        )
    ids = {r.structured_content["id"] for r in results}
    assert len(ids) == 1
    assert sum(not r.structured_content["replayed"] for r in results) == 1
    assert (
        await core_db.fetchval("SELECT count(*) FROM caas_core.applications WHERE borrower_id = $1", me) == 1
    )


async def test_borrower_cannot_apply_for_someone_else(client: Client, principal: Any, core_db) -> None:
    principal(borrower_id(), Role.BORROWER)
    before = await counts(core_db)
    result = await client.call_tool(
        SUBMIT, {"application": application(borrower_id="someone-else")}, raise_on_error=False
    )
    assert error_code(result) == "permission_denied"
    assert await counts(core_db) == before


async def test_agent_must_name_the_borrower_and_then_files_for_them(client: Client, principal: Any) -> None:
    agent = principal(f"agent-{uuid.uuid4().hex[:8]}", Role.AGENT)
    missing = await client.call_tool(SUBMIT, {"application": application()}, raise_on_error=False)
    assert error_code(missing) == "invalid_argument"
    target = borrower_id()
    app = (
        await client.call_tool(SUBMIT, {"application": application(borrower_id=target)})
    ).structured_content
    assert app["borrower_id"] == target
    assert app["created_by"] == agent.subject


async def test_get_by_id_and_by_reference(client: Client, principal: Any) -> None:
    principal(borrower_id(), Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    by_id = (await client.call_tool(GET, {"application": app["id"]})).structured_content
    by_ref = (await client.call_tool(GET, {"application": app["reference"]})).structured_content
    assert by_id == by_ref
    assert Decimal(by_id["monthly_income"]["amount"]) == Decimal("450000")


async def test_borrower_cannot_read_another_borrowers_application(client: Client, principal: Any) -> None:
    principal(borrower_id(), Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    principal(borrower_id(), Role.BORROWER)
    for handle in (app["id"], app["reference"]):
        result = await client.call_tool(GET, {"application": handle}, raise_on_error=False)
        # Indistinguishable from a missing application, so ids cannot be probed.
        assert error_code(result) == "not_found"
    missing = await client.call_tool(GET, {"application": str(uuid.uuid4())}, raise_on_error=False)
    assert error_code(missing) == "not_found"


async def test_operator_reads_any_application(client: Client, principal: Any) -> None:
    principal(borrower_id(), Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    principal("op-1", Role.OPERATOR)
    assert (await client.call_tool(GET, {"application": app["id"]})).structured_content["id"] == app["id"]


async def test_provider_sees_only_the_loan_and_statement_reads_and_is_refused_applications(
    client: Client, principal: Any, core_db
) -> None:
    principal("prov-user", Role.PROVIDER, provider_id="prov-1")
    assert {t.name for t in await client.list_tools() if t.name.startswith("credit_")} == PROVIDER_READS
    before = await counts(core_db)
    for name, args in ((SUBMIT, {"application": application(borrower_id="x")}), (LIST, {})):
        result = await client.call_tool(name, args, raise_on_error=False)
        assert error_code(result) == "permission_denied"
    assert await counts(core_db) == before


async def test_tools_declare_honest_annotations_and_output_schemas(client: Client, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    tools = {t.name: t for t in await client.list_tools() if t.name.startswith("credit_")}
    assert {SUBMIT, GET, LIST} <= set(tools)
    assert tools[SUBMIT].annotations.read_only_hint is False
    assert tools[SUBMIT].annotations.destructive_hint is False
    assert tools[GET].annotations.read_only_hint is True
    assert tools[LIST].annotations.idempotent_hint is True
    assert tools["credit_withdraw_application"].annotations.destructive_hint is True
    assert tools["credit_get_application_timeline"].annotations.read_only_hint is True
    for tool in tools.values():
        assert tool.output_schema is not None
        assert tool.input_schema.get("additionalProperties") is False
        assert tool.description and "Use" in tool.description
