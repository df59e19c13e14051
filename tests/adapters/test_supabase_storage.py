"""The Supabase Storage adapter against a real loopback HTTP server speaking the Storage contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.supabase_storage import SupabaseStorage
from tests.fake_storage import FakeStorage, fake_storage
from tests.support import free_port
from tools.errors import Unavailable
from tools.ports import FileCheck

KEY = "service-role-key-for-tests"
OBJECT = "0b0e6a4e-8f8e-4d5b-9a55-3c1f1f8a2b10/5d2c0d9e-1b7a-4a56-8f0e-6c8f9b1e2a33/passport-scan.pdf"


@pytest.fixture
async def fake() -> AsyncIterator[FakeStorage]:
    async with fake_storage() as f:
        yield f


@pytest.fixture
async def storage(fake: FakeStorage) -> AsyncIterator[SupabaseStorage]:
    s = SupabaseStorage(fake.url + "/", KEY, "caas-documents", timeout=0.5)
    yield s
    await s.aclose()


async def test_signs_an_upload_with_the_service_role_key_and_returns_an_absolute_url(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    before = datetime.now(UTC)
    target = await storage.upload_target(OBJECT, "application/pdf")
    [seen] = fake.seen
    assert seen.method == "POST"
    assert seen.raw_path == f"/storage/v1/object/upload/sign/caas-documents/{OBJECT}"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["apikey"] == KEY
    assert target.storage == "supabase"
    assert target.object_path == OBJECT
    assert target.local_path is None
    assert target.url is not None
    parts = urlsplit(target.url)
    assert f"{parts.scheme}://{parts.netloc}" == fake.url
    assert parts.path == f"/storage/v1/object/upload/sign/caas-documents/{OBJECT}"
    assert parse_qs(parts.query)["token"] == fake.tokens
    assert KEY not in target.url  # the key never leaves the server
    assert before + timedelta(hours=2) <= target.expires_at <= datetime.now(UTC) + timedelta(hours=2)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503])
async def test_an_http_error_is_unavailable(fake: FakeStorage, storage: SupabaseStorage, status: int) -> None:
    fake.mode, fake.status = "status", status
    with pytest.raises(Unavailable) as caught:
        await storage.upload_target(OBJECT, "application/pdf")
    assert f"HTTP {status}" in caught.value.message
    assert KEY not in caught.value.message


async def test_a_timeout_is_unavailable(fake: FakeStorage, storage: SupabaseStorage) -> None:
    fake.mode = "hang"
    with pytest.raises(Unavailable) as caught:
        await storage.upload_target(OBJECT, "application/pdf")
    assert "in time" in caught.value.message


@pytest.mark.parametrize("mode", ["no_token", "not_json"])
async def test_an_answer_without_a_signed_url_is_unavailable(
    fake: FakeStorage, storage: SupabaseStorage, mode: str
) -> None:
    fake.mode = mode  # type: ignore[assignment]
    with pytest.raises(Unavailable):
        await storage.upload_target(OBJECT, "application/pdf")


async def test_nothing_listening_is_unavailable() -> None:
    storage = SupabaseStorage(f"http://127.0.0.1:{free_port()}", KEY, "caas-documents", timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            await storage.upload_target(OBJECT, "application/pdf")
        assert "not reachable" in caught.value.message
    finally:
        await storage.aclose()


async def test_object_path_segments_are_percent_encoded(fake: FakeStorage, storage: SupabaseStorage) -> None:
    await storage.upload_target("app/upload/scan v2+final.pdf", "application/pdf")
    assert (
        fake.seen[0].raw_path
        == "/storage/v1/object/upload/sign/caas-documents/app/upload/scan%20v2%2Bfinal.pdf"
    )


async def test_stored_objects_are_not_read_back(storage: SupabaseStorage) -> None:
    assert await storage.check(OBJECT, 10, "0" * 64) is FileCheck.UNCHECKED
