"""Helpers for the documents tests: applications, files written to the local store, row counts."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import anyio
import asyncpg
from fastmcp import Client

from tests.helpers.common import application
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
REQUEST = "documents_request_document_upload"
REGISTER = "documents_register_document"
LIST = "documents_list_documents"
VERIFY = "documents_verify_document"


def borrower_id() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def scan(tag: str = "") -> bytes:
    """A distinct small 'PDF' each call, so hashes never collide across tests."""
    return b"%PDF-1.7\n" + (tag or uuid.uuid4().hex).encode() + b"\n%%EOF\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def counts(db: asyncpg.Connection) -> tuple[int, ...]:
    return tuple(
        [
            await db.fetchval(f"SELECT count(*) FROM {table}")
            for table in (
                "caas_core.document_uploads",
                "caas_core.documents",
                "caas_audit.audit_log",
                "caas_core.outbox",
            )
        ]
    )


async def new_application(client: Client, principal: Any, borrower: str | None = None) -> dict[str, Any]:
    principal(borrower or borrower_id(), Role.BORROWER)
    return (await client.call_tool(SUBMIT, {"application": application()})).structured_content


async def request_upload(
    client: Client, app: dict[str, Any], data: bytes, **overrides: Any
) -> dict[str, Any]:
    args = {
        "application": app["reference"],
        "document_type": "national_id",
        "file_name": "national-id.pdf",
        "media_type": "application/pdf",
        "size_bytes": len(data),
        **overrides,
    }
    return (await client.call_tool(REQUEST, args)).structured_content


async def uploaded(client: Client, app: dict[str, Any], data: bytes, **overrides: Any) -> dict[str, Any]:
    """Request an upload and write the file where the local store said."""
    target = await request_upload(client, app, data, **overrides)
    await anyio.Path(target["local_path"]).write_bytes(data)
    return target


def register_args(target: dict[str, Any], data: bytes, **overrides: Any) -> dict[str, Any]:
    return {
        "upload": target["upload_id"],
        "size_bytes": len(data),
        "media_type": target["media_type"],
        "sha256": sha(data),
        **overrides,
    }


async def registered(client: Client, app: dict[str, Any], data: bytes, **overrides: Any) -> dict[str, Any]:
    target = await uploaded(client, app, data, **overrides)
    return (await client.call_tool(REGISTER, register_args(target, data))).structured_content
