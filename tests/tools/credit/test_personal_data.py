"""Personal data: masked for most roles, clear for identity reviewers, never stored or logged in clear.

This module runs after the database and server suites (pytest walks tests/ alphabetically), so the
dump below also covers every application the other tests filed with the same test identity.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import TEST_ACCOUNT_NUMBER, TEST_DOB, TEST_NATIONAL_ID, application, error_code
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
GET = "credit_get_application"
LIST = "credit_list_applications"
SECRETS = (TEST_NATIONAL_ID, TEST_ACCOUNT_NUMBER, TEST_DOB)


async def test_borrowers_see_their_personal_data_masked_and_reviewers_in_clear(
    client: Client, principal: Any
) -> None:
    principal(f"b-{uuid.uuid4().hex[:8]}", Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    shown = app["applicant"]
    assert shown["national_id"] == "****" + TEST_NATIONAL_ID[-4:]
    assert shown["bank_account"] == {"bank_code": "058", "account_number": "****" + TEST_ACCOUNT_NUMBER[-4:]}
    assert shown["date_of_birth"] == "****-**-**"
    assert shown["age_years"] >= 39
    assert not any(secret in str(app) for secret in SECRETS)

    principal("op-1", Role.OPERATOR)
    clear = (await client.call_tool(GET, {"application": app["id"]})).structured_content["applicant"]
    assert clear["national_id"] == TEST_NATIONAL_ID
    assert clear["bank_account"]["account_number"] == TEST_ACCOUNT_NUMBER
    assert clear["date_of_birth"] == TEST_DOB


async def test_staff_find_applications_by_national_id_through_the_blind_index(
    client: Client, principal: Any
) -> None:
    principal(f"b-{uuid.uuid4().hex[:8]}", Role.BORROWER)
    unique = str(uuid.uuid4().int)[:11]
    applicant = {**application()["applicant"], "national_id": f"{unique[:3]}-{unique[3:]}"}
    app = (
        await client.call_tool(SUBMIT, {"application": application(applicant=applicant)})
    ).structured_content
    refused = await client.call_tool(LIST, {"national_id": unique}, raise_on_error=False)
    assert error_code(refused) == "permission_denied"

    principal("op-1", Role.OPERATOR)
    # Written with dashes, searched without: the index is over the normalised value.
    found = (await client.call_tool(LIST, {"national_id": unique})).structured_content["items"]
    assert [i["id"] for i in found] == [app["id"]]


async def test_an_invalid_date_of_birth_or_account_number_is_refused(client: Client, principal: Any) -> None:
    principal(f"b-{uuid.uuid4().hex[:8]}", Role.BORROWER)
    base = application()["applicant"]
    for applicant in (
        {**base, "date_of_birth": "2999-01-01"},
        {**base, "date_of_birth": "14/03/1987"},
        {**base, "bank_account": {"bank_code": "058", "account_number": "12ab"}},
        {**base, "national_id": "x"},
        {k: v for k, v in base.items() if k != "date_of_birth"},
    ):
        result = await client.call_tool(
            SUBMIT, {"application": application(applicant=applicant)}, raise_on_error=False
        )
        assert error_code(result) == "invalid_argument", applicant


async def _dump(dsn: str) -> str:
    """Every row of every table of one database, as text: what a stolen backup would show."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name "
            "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        parts = []
        for t in tables:
            rows = await conn.fetch(f"SELECT t::text AS row FROM {t['name']} t")
            parts.extend(r["row"] for r in rows)
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_no_test_identity_is_in_the_databases_or_the_logs_in_clear(
    client: Client, principal: Any, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    principal(f"b-{uuid.uuid4().hex[:8]}", Role.BORROWER)
    app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
    await client.call_tool(GET, {"application": app["id"]})
    principal("op-1", Role.OPERATOR)
    await client.call_tool(LIST, {"national_id": TEST_NATIONAL_ID})
    assert runtime.targets is not None
    core, supabase = await _dump(runtime.targets.direct_core), await _dump(runtime.targets.direct_supabase)
    assert app["reference"] in core  # the dump really holds the applications
    for secret in SECRETS:
        hexed = secret.encode().hex()  # bytea columns dump as hex: plaintext there would show like this
        for text in (core, supabase):
            assert secret not in text
            assert hexed not in text
        assert secret not in caplog.text


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AGENT])
@pytest.mark.parametrize("tool", [SUBMIT, "credit_draft_application"])
async def test_a_new_applications_answer_shows_what_a_read_of_the_stored_row_shows(
    client: Client, principal: Any, role: Role, tool: str
) -> None:
    # The answer is built from the values just sealed, not decrypted back: it must not tell.
    principal(f"staff-{uuid.uuid4().hex[:8]}", role)
    spaced = f"{TEST_NATIONAL_ID[:3]}-{TEST_NATIONAL_ID[3:]}".lower()
    applicant = {**application()["applicant"], "national_id": spaced}
    body = application(borrower_id=f"b-{uuid.uuid4().hex[:8]}", applicant=applicant)
    filed = (await client.call_tool(tool, {"application": body})).structured_content
    read = (await client.call_tool(GET, {"application": filed["id"]})).structured_content
    assert filed["applicant"] == read["applicant"]
    assert filed["applicant"]["age_years"] >= 39
    if role is Role.OPERATOR:
        assert filed["applicant"]["national_id"] == TEST_NATIONAL_ID.upper()
