"""Every bad input to the document tools gets its error code and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import anyio
import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.common import application, error_code
from tests.helpers.documents import (
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

TEN_MIB = 10 * 1024 * 1024


def request_args(app: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    args = {
        "application": app["id"],
        "document_type": "passport",
        "file_name": "passport.pdf",
        "media_type": "application/pdf",
        "size_bytes": 2048,
        **overrides,
    }
    return {k: v for k, v in args.items() if v is not ...}


BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "unknown document type": {"document_type": "selfie"},
    "unsupported media type": {"media_type": "image/gif"},
    "one byte over 10 MiB": {"size_bytes": TEN_MIB + 1},
    "empty file": {"size_bytes": 0},
    "negative size": {"size_bytes": -1},
    "path in the file name": {"file_name": "../../etc/passwd"},
    "space in the file name": {"file_name": "my scan.pdf"},
    "hidden file name": {"file_name": ".profile"},
    "file name too long": {"file_name": "a" * 129 + ".pdf"},
    "missing media type": {"media_type": ...},
    "unknown field": {"colour": "blue"},
}


@pytest.mark.parametrize("overrides", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
async def test_bad_upload_request_is_invalid_argument_and_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection, overrides: dict[str, Any]
) -> None:
    app = await new_application(client, principal)
    before = await counts(core_db)
    result = await client.call_tool(REQUEST, request_args(app, **overrides), raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    assert "call again" in error_message(result)
    assert await counts(core_db) == before


async def test_exactly_ten_mib_is_accepted(client: Client, principal: Any) -> None:
    app = await new_application(client, principal)
    target = (await client.call_tool(REQUEST, request_args(app, size_bytes=TEN_MIB))).structured_content
    assert target["size_bytes"] == TEN_MIB


Args = Callable[[dict[str, Any], bytes], dict[str, Any]]
BAD_REGISTRATIONS: dict[str, Args] = {
    "hash not hex": lambda t, d: register_args(t, d, sha256="z" * 64),
    "hash too short": lambda t, d: register_args(t, d, sha256="abc123"),
    "hash of other bytes": lambda t, d: register_args(t, d, sha256=sha(d + b"x")),
    "size other than requested": lambda t, d: register_args(t, d, size_bytes=len(d) + 1),
    "media type other than requested": lambda t, d: register_args(t, d, media_type="image/png"),
    "unsupported media type": lambda t, d: register_args(t, d, media_type="text/plain"),
    "over the size limit": lambda t, d: register_args(t, d, size_bytes=TEN_MIB + 1),
    "upload id and application": lambda t, d: register_args(t, d, application=t["application_id"]),
    "neither upload id nor application": lambda t, d: register_args(t, d, upload_id=None),
    "application without type": lambda t, d: {
        **register_args(t, d, upload_id=None),
        "application": t["application_id"],
    },
    "upload id not a uuid": lambda t, d: register_args(t, d, upload_id="upload-1"),
    "unknown field": lambda t, d: register_args(t, d, note="hi"),
}


@pytest.mark.parametrize("make_args", BAD_REGISTRATIONS.values(), ids=BAD_REGISTRATIONS.keys())
async def test_bad_registration_is_invalid_argument_and_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection, make_args: Args
) -> None:
    app = await new_application(client, principal)
    data = scan()
    target = await uploaded(client, app, data)
    before = await counts(core_db)
    result = await client.call_tool(REGISTER, make_args(target, data), raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    assert await counts(core_db) == before
    upload = await core_db.fetchval(
        "SELECT status FROM caas_core.document_uploads WHERE id = $1", uuid.UUID(target["upload_id"])
    )
    assert upload == "pending"


async def test_file_missing_or_other_than_declared_is_invalid_argument(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    data = scan()
    target = await request_upload(client, app, data)
    before = await counts(core_db)
    missing = await client.call_tool(REGISTER, register_args(target, data), raise_on_error=False)
    assert error_code(missing) == "invalid_argument"
    assert "no file" in error_message(missing)
    path = anyio.Path(target["local_path"])
    await path.write_bytes(data + b"trailing")  # not the file that was declared
    longer = await client.call_tool(REGISTER, register_args(target, data), raise_on_error=False)
    assert error_code(longer) == "invalid_argument"
    assert "size_bytes" in error_message(longer)
    await path.write_bytes(bytes(reversed(data)))  # same size, other bytes
    altered = await client.call_tool(REGISTER, register_args(target, data), raise_on_error=False)
    assert error_code(altered) == "invalid_argument"
    assert "sha256" in error_message(altered)
    assert await counts(core_db) == before
    await path.unlink()
    await path.symlink_to(path.with_name("elsewhere.pdf"))
    await path.with_name("elsewhere.pdf").write_bytes(data)
    symlink = await client.call_tool(REGISTER, register_args(target, data), raise_on_error=False)
    assert error_code(symlink) == "invalid_argument"
    assert await counts(core_db) == before


async def test_unknown_upload_is_not_found(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    principal(borrower_id(), Role.BORROWER)
    data = scan()
    before = await counts(core_db)
    args = {"upload": str(uuid.uuid4()), "size_bytes": len(data), "media_type": "application/pdf"}
    result = await client.call_tool(REGISTER, {**args, "sha256": sha(data)}, raise_on_error=False)
    assert error_code(result) == "not_found"
    assert await counts(core_db) == before


BAD_DECISIONS: dict[str, dict[str, Any]] = {
    "rejection without reason": {"decision": "rejected"},
    "rejection with a blank reason": {"decision": "rejected", "reason": "   "},
    "reason too short": {"decision": "rejected", "reason": "no"},
    "reason too long": {"decision": "rejected", "reason": "x" * 501},
    "unknown decision": {"decision": "approved"},
    "unknown field": {"decision": "verified", "score": 5},
    "document id not a uuid": {"decision": "verified", "document": "doc-1"},
}


@pytest.mark.parametrize("overrides", BAD_DECISIONS.values(), ids=BAD_DECISIONS.keys())
async def test_bad_decision_is_invalid_argument_and_changes_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection, overrides: dict[str, Any]
) -> None:
    app = await new_application(client, principal)
    doc = await registered(client, app, scan())
    principal("op-checker", Role.OPERATOR)
    before = await counts(core_db)
    result = await client.call_tool(VERIFY, {"document": doc["id"], **overrides}, raise_on_error=False)
    assert error_code(result) == "invalid_argument"
    assert await counts(core_db) == before
    status = await core_db.fetchval(
        "SELECT status FROM caas_core.documents WHERE id = $1", uuid.UUID(doc["id"])
    )
    assert status == "pending"


async def test_deciding_an_unknown_document_is_not_found(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    principal("op-checker", Role.OPERATOR)
    before = await counts(core_db)
    result = await client.call_tool(
        VERIFY, {"document": str(uuid.uuid4()), "decision": "verified"}, raise_on_error=False
    )
    assert error_code(result) == "not_found"
    assert await counts(core_db) == before


async def test_operator_cannot_decide_on_their_own_application(client: Client, principal: Any) -> None:
    operator = f"op-{uuid.uuid4().hex[:8]}"
    principal("agent-9", Role.AGENT)
    app = (
        await client.call_tool(SUBMIT, {"application": application(borrower_id=operator)})
    ).structured_content
    doc = await registered(client, app, scan())  # uploaded and registered by the agent
    principal(operator, Role.OPERATOR)
    result = await client.call_tool(
        VERIFY, {"document": doc["id"], "decision": "verified"}, raise_on_error=False
    )
    assert error_code(result) == "permission_denied"
    assert "your own application" in error_message(result)
