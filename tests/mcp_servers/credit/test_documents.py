"""KYC documents through a real MCP client on real PostgreSQL, local store."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import anyio
import asyncpg
from fastmcp import Client

from database.credit.documents import PgDocumentReader
from mcp_servers.composition import PLAN_PORTS, build_server
from mcp_servers.runtime import Runtime
from tests.helpers.common import application, error_code
from tests.helpers.documents import (
    LIST,
    REGISTER,
    REQUEST,
    SUBMIT,
    VERIFY,
    borrower_id,
    counts,
    new_application,
    register_args,
    registered,
    request_upload,
    scan,
    sha,
    uploaded,
)
from tests.helpers.errors import error_message
from tools.platform.principal import Role


async def test_borrower_uploads_registers_and_another_operator_verifies(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    me = borrower_id()
    app = await new_application(client, principal, me)
    data = scan()
    target = await request_upload(client, app, data)
    assert target["storage"] == "local"
    assert target["upload_url"] is None
    expected_dir = runtime.settings.data_dir / "documents" / app["id"] / target["upload_id"]
    assert target["local_path"] == str((expected_dir / "national-id.pdf").resolve())
    assert await anyio.Path(target["local_path"]).parent.is_dir()
    assert target["object_path"] == f"{app['id']}/{target['upload_id']}/national-id.pdf"
    assert "register_document" in target["next_step"]
    upload_audit = await core_db.fetchrow(
        "SELECT * FROM caas_audit.audit_log WHERE object_type = 'document_upload' AND object_id = $1",
        target["upload_id"],
    )
    assert (upload_audit["principal_id"], upload_audit["tool"]) == (me, "documents.request_document_upload")

    await anyio.Path(target["local_path"]).write_bytes(data)
    doc = (await client.call_tool(REGISTER, register_args(target, data))).structured_content
    assert doc["status"] == "pending"
    assert doc["sha256_prefix"] == sha(data)[:12]
    assert (doc["size_bytes"], doc["media_type"], doc["document_type"]) == (
        len(data),
        "application/pdf",
        "national_id",
    )
    assert doc["registered_by"] == me
    assert doc["decided_by"] is None
    event = await core_db.fetchrow("SELECT * FROM caas_core.outbox WHERE aggregate_id = $1", doc["id"])
    assert event["event_type"] == "document.registered"
    assert event["payload"]["application_id"] == app["id"]

    listed = (await client.call_tool(LIST, {"application": app["id"]})).structured_content
    assert [d["id"] for d in listed["documents"]] == [doc["id"]]
    assert listed["kyc"] == {"identity_verified": False, "income_verified": False}

    principal("op-checker", Role.OPERATOR)
    decided = (
        await client.call_tool(VERIFY, {"document": doc["id"], "decision": "verified"})
    ).structured_content
    assert decided["status"] == "verified"
    assert decided["decided_by"] == "op-checker"
    assert decided["decided_at"] is not None
    events = await core_db.fetch(
        "SELECT event_type FROM caas_core.outbox WHERE aggregate_id = $1 ORDER BY id", doc["id"]
    )
    assert [e["event_type"] for e in events] == ["document.registered", "document.verified"]
    audits = await core_db.fetch(
        "SELECT tool, principal_id FROM caas_audit.audit_log WHERE object_type = 'document' "
        "AND object_id = $1 ORDER BY id",
        doc["id"],
    )
    assert [(a["tool"], a["principal_id"]) for a in audits] == [
        ("documents.register_document", me),
        ("documents.verify_document", "op-checker"),
    ]

    principal(me, Role.BORROWER)
    listed = (await client.call_tool(LIST, {"application": app["reference"]})).structured_content
    assert listed["documents"][0]["status"] == "verified"
    assert listed["kyc"] == {"identity_verified": True, "income_verified": False}
    assert await PgDocumentReader(runtime.core_pool).verified_document_types(uuid.UUID(app["id"])) == {
        "national_id"
    }


async def test_rejection_records_the_reason_but_keeps_it_out_of_the_event(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    doc = await registered(client, app, scan(), document_type="bank_statement", file_name="statement.pdf")
    principal("op-checker", Role.ADMIN)
    reason = "statement is older than three months; upload one from the last 90 days"
    decided = (
        await client.call_tool(VERIFY, {"document": doc["id"], "decision": "rejected", "reason": reason})
    ).structured_content
    assert (decided["status"], decided["decision_reason"]) == ("rejected", reason)
    event = await core_db.fetchrow(
        "SELECT * FROM caas_core.outbox WHERE aggregate_id = $1 AND event_type = 'document.rejected'",
        doc["id"],
    )
    assert event["payload"]["status"] == "rejected"
    assert "three months" not in str(event["payload"])


async def test_a_document_is_decided_once(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    doc = await registered(client, app, scan())
    principal("op-checker", Role.OPERATOR)
    await client.call_tool(VERIFY, {"document": doc["id"], "decision": "verified"})
    before = await counts(core_db)
    principal("op-other", Role.OPERATOR)
    again = await client.call_tool(
        VERIFY,
        {"document": doc["id"], "decision": "rejected", "reason": "looks altered"},
        raise_on_error=False,
    )
    assert error_code(again) == "conflict"
    assert "already verified" in error_message(again)
    assert await counts(core_db) == before
    status = await core_db.fetchval(
        "SELECT status FROM caas_core.documents WHERE id = $1", uuid.UUID(doc["id"])
    )
    assert status == "verified"


async def test_concurrent_decisions_leave_exactly_one(
    server, principal: Any, core_db: asyncpg.Connection
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as c:
        app = await new_application(c, principal)
        doc = await registered(c, app, scan())
        principal("op-checker", Role.OPERATOR)
        results = await asyncio.gather(
            *(
                c.call_tool(VERIFY, {"document": doc["id"], "decision": "verified"}, raise_on_error=False)
                for _ in range(8)
            )
        )
    assert sorted(str(error_code(r)) for r in results) == ["None"] + ["conflict"] * 7
    decided = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.outbox WHERE aggregate_id = $1 AND event_type = 'document.verified'",
        doc["id"],
    )
    assert decided == 1


async def test_whoever_uploaded_or_registered_cannot_decide(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    principal("op-maker", Role.OPERATOR)
    made_by_operator = await registered(client, app, scan())
    principal(app["borrower_id"], Role.BORROWER)
    target = await uploaded(
        client,
        app,
        data := scan(),
        document_type="passport",
        file_name="passport.png",
        media_type="image/png",
    )
    principal("op-registrar", Role.OPERATOR)
    registered_by_operator = (
        await client.call_tool(REGISTER, register_args(target, data))
    ).structured_content
    before = await counts(core_db)
    for who, doc in (("op-maker", made_by_operator), ("op-registrar", registered_by_operator)):
        principal(who, Role.OPERATOR)
        result = await client.call_tool(
            VERIFY, {"document": doc["id"], "decision": "verified"}, raise_on_error=False
        )
        assert error_code(result) == "permission_denied"
        assert "maker-checker" in error_message(result)
    assert await counts(core_db) == before
    principal("op-checker", Role.OPERATOR)
    for doc in (made_by_operator, registered_by_operator):
        ok = await client.call_tool(VERIFY, {"document": doc["id"], "decision": "verified"})
        assert ok.structured_content["status"] == "verified"


async def test_borrowers_agents_and_providers_cannot_decide(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    doc = await registered(client, app, scan())
    before = await counts(core_db)
    for who, role in (
        (app["borrower_id"], Role.BORROWER),
        ("agent-1", Role.AGENT),
        ("prov-1", Role.PROVIDER),
    ):
        principal(who, role)
        names = {t.name for t in await client.list_tools()}
        assert VERIFY not in names
        result = await client.call_tool(
            VERIFY, {"document": doc["id"], "decision": "verified"}, raise_on_error=False
        )
        assert error_code(result) == "permission_denied"
    assert await counts(core_db) == before


async def test_providers_see_no_document_tools_and_are_refused(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    principal("prov-user", Role.PROVIDER, provider_id="prov-1")
    assert not [t.name for t in await client.list_tools() if t.name.startswith("documents_")]
    before = await counts(core_db)
    for name, args in (
        (
            REQUEST,
            {
                "application": app["id"],
                "document_type": "passport",
                "file_name": "p.pdf",
                "media_type": "application/pdf",
                "size_bytes": 10,
            },
        ),
        (LIST, {"application": app["id"]}),
    ):
        assert error_code(await client.call_tool(name, args, raise_on_error=False)) == "permission_denied"
    assert await counts(core_db) == before


async def test_someone_elses_application_is_not_found_everywhere(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    data = scan()
    target = await uploaded(client, app, data)
    before = await counts(core_db)
    for who, role in ((borrower_id(), Role.BORROWER), ("agent-stranger", Role.AGENT)):
        principal(who, role)
        for name, args in (
            (
                REQUEST,
                {
                    "application": app["reference"],
                    "document_type": "passport",
                    "file_name": "p.pdf",
                    "media_type": "application/pdf",
                    "size_bytes": 10,
                },
            ),
            (REGISTER, register_args(target, data)),
            (
                REGISTER,
                {
                    **register_args(target, data),
                    "upload": None,
                    "application": app["id"],
                    "document_type": "national_id",
                },
            ),
            (LIST, {"application": app["reference"]}),
        ):
            result = await client.call_tool(name, args, raise_on_error=False)
            assert error_code(result) == "not_found", (who, name)
    assert await counts(core_db) == before


async def test_agent_handles_documents_of_the_applications_it_filed(client: Client, principal: Any) -> None:
    principal("agent-7", Role.AGENT)
    app = (
        await client.call_tool(SUBMIT, {"application": application(borrower_id=borrower_id())})
    ).structured_content
    doc = await registered(
        client,
        app,
        scan(),
        document_type="proof_of_address",
        file_name="utility-bill.jpg",
        media_type="image/jpeg",
    )
    assert doc["registered_by"] == "agent-7"
    listed = (await client.call_tool(LIST, {"application": app["id"]})).structured_content
    assert [d["document_type"] for d in listed["documents"]] == ["proof_of_address"]


async def test_register_by_application_and_type_needs_exactly_one_pending_upload(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    data = scan()
    by_type = {
        "application": app["reference"],
        "document_type": "proof_of_income",
        "size_bytes": len(data),
        "media_type": "application/pdf",
        "sha256": sha(data),
    }
    none_yet = await client.call_tool(REGISTER, by_type, raise_on_error=False)
    assert error_code(none_yet) == "not_found"
    await uploaded(client, app, data, document_type="proof_of_income", file_name="payslip.pdf")
    doc = (await client.call_tool(REGISTER, by_type)).structured_content
    assert doc["document_type"] == "proof_of_income"
    for _ in range(2):
        await request_upload(client, app, data, document_type="proof_of_income", file_name="payslip.pdf")
    before = await counts(core_db)
    ambiguous = await client.call_tool(REGISTER, by_type, raise_on_error=False)
    assert error_code(ambiguous) == "conflict"
    assert "upload_id" in error_message(ambiguous)
    assert await counts(core_db) == before


async def test_the_same_file_or_upload_is_registered_once(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    data = scan()
    first = await uploaded(client, app, data)
    await client.call_tool(REGISTER, register_args(first, data))
    second = await uploaded(client, app, data, document_type="passport", file_name="passport.pdf")
    before = await counts(core_db)
    for target in (first, second):
        result = await client.call_tool(REGISTER, register_args(target, data), raise_on_error=False)
        assert error_code(result) == "conflict"
    assert await counts(core_db) == before
    # Another application may hold the same file.
    other = await new_application(client, principal, app["borrower_id"])
    assert (await registered(client, other, data))["status"] == "pending"


async def test_tools_declare_roles_annotations_and_output_schemas(client: Client, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    tools = {t.name: t for t in await client.list_tools() if t.name.startswith("documents_")}
    assert set(tools) == {REQUEST, REGISTER, LIST, VERIFY}
    assert tools[LIST].annotations.read_only_hint is True
    assert tools[LIST].annotations.idempotent_hint is True
    for name in (REQUEST, REGISTER, VERIFY):
        assert tools[name].annotations.read_only_hint is False
        assert tools[name].annotations.destructive_hint is False
    for tool in tools.values():
        assert tool.output_schema is not None
        assert tool.input_schema.get("additionalProperties") is False
        assert tool.description and "Use" in tool.description
    principal(borrower_id(), Role.BORROWER)
    visible = {t.name for t in await client.list_tools() if t.name.startswith("documents_")}
    assert visible == {REQUEST, REGISTER, LIST}


async def test_the_documents_service_runs_alone_with_plain_names(runtime: Runtime, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    async with Client(build_server(runtime, "documents")) as c:
        names = {t.name for t in await c.list_tools()}
    assert names == {"request_document_upload", "register_document", "list_documents", "verify_document"}
    assert PLAN_PORTS["documents"] == 3004


async def test_no_uploads_once_the_application_is_withdrawn(client: Client, principal: Any, core_db) -> None:
    app = await new_application(client, principal)
    await client.call_tool("credit_withdraw_application", {"application": app["id"]})
    before = await counts(core_db)
    args = {
        "application": app["reference"],
        "document_type": "national_id",
        "file_name": "id.pdf",
        "media_type": "application/pdf",
        "size_bytes": 100,
    }
    result = await client.call_tool(REQUEST, args, raise_on_error=False)
    assert error_code(result) == "conflict"
    assert await counts(core_db) == before
