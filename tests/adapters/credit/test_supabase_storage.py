"""The Supabase Storage adapter (storage3, supabase-py's async storage client) against a real loopback
HTTP server speaking the Storage API: signed uploads, and the uploaded object checked for its size and
SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from storage3 import AsyncStorageClient

from adapters.credit.supabase_storage import SupabaseStorage
from tests.helpers.common import free_port
from tests.helpers.fake_storage import FakeStorage, fake_storage
from tools.credit.ports import FileCheck
from tools.platform.errors import Unavailable

KEY = "service-role-key-for-tests"
BUCKET = "caas-documents"
OBJECT = "0b0e6a4e-8f8e-4d5b-9a55-3c1f1f8a2b10/5d2c0d9e-1b7a-4a56-8f0e-6c8f9b1e2a33/passport-scan.pdf"
DATA = b"%PDF-1.7\nA passport, scanned.\n%%EOF\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeStorage]:
    async with fake_storage(KEY, BUCKET) as f:
        yield f


@pytest.fixture
async def storage(fake: FakeStorage) -> AsyncIterator[SupabaseStorage]:
    s = SupabaseStorage(fake.url + "/", KEY, BUCKET, timeout=0.5)
    yield s
    await s.aclose()


async def put(url: str, data: bytes, media_type: str = "application/pdf") -> httpx.Response:
    """What a client does with the signed URL: PUT the bytes, no key."""
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.put(url, content=data, headers={"Content-Type": media_type})


async def test_signs_an_upload_with_the_service_role_key_and_returns_an_absolute_url(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    before = datetime.now(UTC)
    target = await storage.upload_target(OBJECT, "application/pdf")
    [seen] = fake.seen
    assert seen.method == "POST"
    assert seen.raw_path == f"/storage/v1/object/upload/sign/{BUCKET}/{OBJECT}"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["apikey"] == KEY
    assert target.storage == "supabase"
    assert target.object_path == OBJECT
    assert target.local_path is None
    assert target.url is not None
    parts = urlsplit(target.url)
    assert f"{parts.scheme}://{parts.netloc}" == fake.url
    assert parts.path == f"/storage/v1/object/upload/sign/{BUCKET}/{OBJECT}"
    assert parse_qs(parts.query)["token"] == fake.tokens
    assert KEY not in target.url  # the key never leaves the server
    assert before + timedelta(hours=2) <= target.expires_at <= datetime.now(UTC) + timedelta(hours=2)


async def test_the_signed_url_takes_the_file_once_without_the_key(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    assert (await put(target.url, DATA)).json()["Key"] == f"{BUCKET}/{OBJECT}"
    assert (await put(target.url, DATA)).status_code == 409  # Storage's Duplicate: no overwrite
    other = (await storage.upload_target("elsewhere/x.pdf", "application/pdf")).url
    assert other is not None
    wrong = other.replace("elsewhere/x.pdf", "elsewhere/y.pdf")  # a token signs one object only
    assert (await put(wrong, DATA)).status_code == 400
    assert fake.objects[f"{BUCKET}/{OBJECT}"].data == DATA


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503])
async def test_an_http_error_is_unavailable(fake: FakeStorage, storage: SupabaseStorage, status: int) -> None:
    fake.mode, fake.status = "status", status
    with pytest.raises(Unavailable) as caught:
        await storage.upload_target(OBJECT, "application/pdf")
    assert f"HTTP {status}" in caught.value.message
    assert KEY not in caught.value.message


async def test_a_wrong_key_is_unavailable_and_never_echoed(fake: FakeStorage) -> None:
    wrong = SupabaseStorage(fake.url, "not-the-key", BUCKET, timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            await wrong.upload_target(OBJECT, "application/pdf")
    finally:
        await wrong.aclose()
    assert "HTTP 400" in caught.value.message and "not-the-key" not in caught.value.message


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
    storage = SupabaseStorage(f"http://127.0.0.1:{free_port()}", KEY, BUCKET, timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            await storage.upload_target(OBJECT, "application/pdf")
        assert "not reachable" in caught.value.message
        with pytest.raises(Unavailable):
            await storage.check(OBJECT, len(DATA), hashlib.sha256(DATA).hexdigest())
    finally:
        await storage.aclose()


async def test_object_path_segments_are_percent_encoded_as_storage3_sends_them(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    await storage.upload_target("app/upload/scan v2+final.pdf", "application/pdf")
    # storage3 (yarl) encodes what a path segment cannot hold; '+' is a plain character in a path.
    assert fake.seen[0].raw_path == f"/storage/v1/object/upload/sign/{BUCKET}/app/upload/scan%20v2+final.pdf"


async def test_an_uploaded_file_matches_its_size_and_hash(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    await put(target.url, DATA)
    assert (
        await storage.check(OBJECT, len(DATA), hashlib.sha256(DATA).hexdigest().upper()) is FileCheck.MATCHES
    )
    [info] = fake.requests("GET", "/object/info/")
    [read] = fake.requests("GET", "/object/authenticated/")
    assert info.raw_path == f"/storage/v1/object/info/{BUCKET}/{OBJECT}"
    assert read.raw_path == f"/storage/v1/object/authenticated/{BUCKET}/{OBJECT}"
    assert all(
        r.headers["apikey"] == KEY and r.headers["authorization"] == f"Bearer {KEY}" for r in (info, read)
    )


async def test_a_file_sent_by_storage3_itself_is_read_back_the_same(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    token = parse_qs(urlsplit(target.url).query)["token"][0]
    # A Python client would use storage3's own upload_to_signed_url (a multipart form).
    async with AsyncStorageClient(fake.url + "/storage/v1/", {}) as client:
        await client.from_(BUCKET).upload_to_signed_url(
            OBJECT, token, DATA, {"content-type": "application/pdf"}
        )
    assert await storage.check(OBJECT, len(DATA), hashlib.sha256(DATA).hexdigest()) is FileCheck.MATCHES


async def test_a_missing_file_or_a_wrong_size_is_told_without_reading_the_file(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    assert await storage.check(OBJECT, len(DATA), hashlib.sha256(DATA).hexdigest()) is FileCheck.MISSING
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    await put(target.url, DATA)
    assert (
        await storage.check(OBJECT, len(DATA) + 1, hashlib.sha256(DATA).hexdigest())
        is FileCheck.SIZE_MISMATCH
    )
    assert fake.requests("GET", "/object/authenticated/") == []


async def test_other_bytes_of_the_same_size_are_a_hash_mismatch(
    fake: FakeStorage, storage: SupabaseStorage
) -> None:
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    await put(target.url, DATA)
    other = hashlib.sha256(DATA.replace(b"passport", b"PASSPORT")).hexdigest()
    assert await storage.check(OBJECT, len(DATA), other) is FileCheck.HASH_MISMATCH


@pytest.mark.parametrize("mode", ["status", "hang", "not_json"])
async def test_storage_failing_during_the_check_is_unavailable(
    fake: FakeStorage, storage: SupabaseStorage, mode: str
) -> None:
    target = await storage.upload_target(OBJECT, "application/pdf")
    assert target.url is not None
    await put(target.url, DATA)
    fake.mode, fake.status = mode, 503  # type: ignore[assignment]
    with pytest.raises(Unavailable) as caught:
        await storage.check(OBJECT, len(DATA), hashlib.sha256(DATA).hexdigest())
    assert KEY not in caught.value.message
