"""The local document store: private directories, exact size and hash checks, no escaping the root."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import anyio
import pytest

from adapters.credit.local_store import LocalDocumentStore
from tools.credit.ports import FileCheck

DATA = b"%PDF-1.7\nhello\n%%EOF\n"
DIGEST = hashlib.sha256(DATA).hexdigest()


async def test_upload_target_is_a_path_in_a_private_directory(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "documents")
    target = await store.upload_target("app/upload/id.pdf", "application/pdf")
    assert target.storage == "local"
    assert target.url is None
    assert target.local_path == str((tmp_path / "documents" / "app" / "upload" / "id.pdf").resolve())
    directory = anyio.Path(target.local_path).parent
    assert await directory.is_dir()
    assert stat.S_IMODE((await directory.stat()).st_mode) == 0o700


async def test_check_compares_size_then_hash(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    target = await store.upload_target("a/u/f.pdf", "application/pdf")
    path = anyio.Path(target.local_path or "")
    assert await store.check("a/u/f.pdf", len(DATA), DIGEST) is FileCheck.MISSING
    await path.write_bytes(DATA)
    assert await store.check("a/u/f.pdf", len(DATA), DIGEST) is FileCheck.MATCHES
    assert await store.check("a/u/f.pdf", len(DATA), DIGEST.upper()) is FileCheck.MATCHES
    assert await store.check("a/u/f.pdf", len(DATA) + 1, DIGEST) is FileCheck.SIZE_MISMATCH
    assert await store.check("a/u/f.pdf", len(DATA), "0" * 64) is FileCheck.HASH_MISMATCH
    await path.unlink()
    await path.mkdir()
    assert await store.check("a/u/f.pdf", len(DATA), DIGEST) is FileCheck.MISSING


@pytest.mark.parametrize(
    "object_path", ["../outside.pdf", "a/../../outside.pdf", "/etc/passwd", "a//b.pdf", "a/./b"]
)
async def test_paths_cannot_leave_the_store(tmp_path: Path, object_path: str) -> None:
    store = LocalDocumentStore(tmp_path / "documents")
    with pytest.raises(ValueError):
        await store.upload_target(object_path, "application/pdf")
    with pytest.raises(ValueError):
        await store.check(object_path, 1, "0" * 64)
