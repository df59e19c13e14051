"""The documents service wired to Supabase Storage (a real loopback server speaking its API): the
client uploads to the signed URL, and registering checks the stored file's size and SHA-256."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastmcp import Client
from pydantic import HttpUrl, SecretStr

from adapters.credit.local_store import LocalDocumentStore
from adapters.credit.supabase_storage import SupabaseStorage
from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from mcp_servers.wiring import document_store
from tests.helpers.common import application, error_code
from tests.helpers.documents import REGISTER, REQUEST, SUBMIT, counts, scan, sha
from tests.helpers.fake_storage import FakeStorage, fake_storage
from tools.platform.principal import Principal, Role

KEY = "service-role-key-for-the-documents-tests"


def with_supabase(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "supabase_url": HttpUrl(url),
            "supabase_service_role_key": SecretStr(KEY),
            "supabase_storage_bucket": "kyc-test",
        }
    )


def test_wiring_picks_supabase_only_with_url_and_service_role_key(settings: Settings) -> None:
    assert isinstance(document_store(settings), LocalDocumentStore)
    url_only = settings.model_copy(update={"supabase_url": HttpUrl("https://x.supabase.co")})
    assert isinstance(document_store(url_only), LocalDocumentStore)
    assert isinstance(document_store(with_supabase(settings, "https://x.supabase.co")), SupabaseStorage)


@pytest.fixture
async def storage() -> AsyncIterator[FakeStorage]:
    async with fake_storage(KEY, "kyc-test") as fake:
        yield fake


@pytest.fixture
async def supabase_runtime(settings: Settings, storage: FakeStorage) -> AsyncIterator[Runtime]:
    rt = Runtime(with_supabase(settings, storage.url))
    async with rt.session():
        yield rt


async def test_upload_goes_to_a_signed_supabase_url_and_registers(
    supabase_runtime: Runtime, storage: FakeStorage, core_db: asyncpg.Connection
) -> None:
    me = f"b-{uuid.uuid4().hex[:12]}"
    supabase_runtime.principals.local = Principal(me, Role.BORROWER)
    data = scan()
    async with Client(build_server(supabase_runtime)) as client:
        app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
        target = (
            await client.call_tool(
                REQUEST,
                {
                    "application": app["reference"],
                    "document_type": "passport",
                    "file_name": "passport.jpg",
                    "media_type": "image/jpeg",
                    "size_bytes": len(data),
                },
            )
        ).structured_content
        object_path = f"{app['id']}/{target['upload_id']}/passport.jpg"
        assert target["storage"] == "supabase"
        assert target["local_path"] is None
        assert target["object_path"] == object_path
        assert target["upload_url"] == (
            f"{storage.url}/storage/v1/object/upload/sign/kyc-test/{object_path}?token={storage.tokens[0]}"
        )
        [seen] = storage.seen
        assert seen.raw_path == f"/storage/v1/object/upload/sign/kyc-test/{object_path}"
        assert (seen.headers["authorization"], seen.headers["apikey"]) == (f"Bearer {KEY}", KEY)
        register = {
            "upload": target["upload_id"],
            "size_bytes": len(data),
            "media_type": "image/jpeg",
            "sha256": sha(data),
        }
        # Nothing uploaded yet: the file is checked, not taken on the client's word.
        assert error_code(await client.call_tool(REGISTER, register, raise_on_error=False)) == (
            "invalid_argument"
        )
        async with httpx.AsyncClient(timeout=5) as http:  # the client, as next_step tells it
            put = await http.put(target["upload_url"], content=data, headers={"Content-Type": "image/jpeg"})
        assert put.status_code == 200
        assert storage.objects[f"kyc-test/{object_path}"].data == data
        other_hash = {**register, "sha256": sha(data + b"!")}
        assert error_code(await client.call_tool(REGISTER, other_hash, raise_on_error=False)) == (
            "invalid_argument"
        )
        doc = (await client.call_tool(REGISTER, register)).structured_content
    assert doc["status"] == "pending"
    stored = await core_db.fetchval(
        "SELECT storage FROM caas_core.documents WHERE id = $1", uuid.UUID(doc["id"])
    )
    assert stored == "supabase"


@pytest.mark.parametrize("status", [400, 503])
async def test_storage_failure_is_unavailable_and_stores_nothing(
    supabase_runtime: Runtime, storage: FakeStorage, core_db: asyncpg.Connection, status: int
) -> None:
    supabase_runtime.principals.local = Principal(f"b-{uuid.uuid4().hex[:12]}", Role.BORROWER)
    async with Client(build_server(supabase_runtime)) as client:
        app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
        storage.mode, storage.status = (
            "status",
            status,
        )  # timeouts: tests/adapters/credit/test_supabase_storage.py
        before = await counts(core_db)
        result = await client.call_tool(
            REQUEST,
            {
                "application": app["id"],
                "document_type": "national_id",
                "file_name": "id.png",
                "media_type": "image/png",
                "size_bytes": 1000,
            },
            raise_on_error=False,
        )
    assert error_code(result) == "unavailable"
    assert KEY not in str(result.structured_content)
    assert await counts(core_db) == before


async def test_storage_failing_while_the_file_is_checked_is_unavailable_and_registers_nothing(
    supabase_runtime: Runtime, storage: FakeStorage, core_db: asyncpg.Connection
) -> None:
    supabase_runtime.principals.local = Principal(f"b-{uuid.uuid4().hex[:12]}", Role.BORROWER)
    data = scan()
    async with Client(build_server(supabase_runtime)) as client:
        app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
        args = {
            "application": app["id"],
            "document_type": "passport",
            "file_name": "passport.pdf",
            "media_type": "application/pdf",
            "size_bytes": len(data),
        }
        target = (await client.call_tool(REQUEST, args)).structured_content
        async with httpx.AsyncClient(timeout=5) as http:
            await http.put(target["upload_url"], content=data, headers={"Content-Type": "application/pdf"})
        storage.mode, storage.status = "status", 503
        before = await counts(core_db)
        register = {
            "upload": target["upload_id"],
            "size_bytes": len(data),
            "media_type": "application/pdf",
            "sha256": sha(data),
        }
        result = await client.call_tool(REGISTER, register, raise_on_error=False)
        assert error_code(result) == "unavailable"
        assert await counts(core_db) == before
        storage.mode = "ok"  # Storage is back: the same call goes through
        assert (await client.call_tool(REGISTER, register)).structured_content["status"] == "pending"
