"""KYC files in a local directory: the embedded default when Supabase Storage is not configured."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from tools.credit.ports import FileCheck, UploadTarget

__all__ = ["UPLOAD_VALIDITY", "LocalDocumentStore"]

# The same window Supabase gives a signed upload URL, so both stores tell clients the same thing.
UPLOAD_VALIDITY = timedelta(hours=2)
_CHUNK = 1 << 20


class LocalDocumentStore:
    """Files under ``<root>/<application id>/<upload id>/<file name>``; directories are private (0700)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, object_path: str) -> Path:
        # Not resolved: a symlink planted at the file's place must be seen as one, not followed.
        parts = object_path.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError("object path leaves the document store")
        return self._root.resolve().joinpath(*parts)

    async def upload_target(self, object_path: str, media_type: str) -> UploadTarget:
        path = self._path(object_path)

        def prepare() -> None:
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

        await anyio.to_thread.run_sync(prepare)
        return UploadTarget(
            storage=self.kind,
            object_path=object_path,
            expires_at=datetime.now(UTC) + UPLOAD_VALIDITY,
            local_path=str(path),
        )

    async def check(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck:
        path = self._path(object_path)
        return await anyio.to_thread.run_sync(_inspect, path, size_bytes, sha256)

    async def write(self, object_path: str, data: bytes) -> None:
        path = self._path(object_path)
        await anyio.to_thread.run_sync(_write, path, data)

    async def aclose(self) -> None:
        return None


def _write(path: Path, data: bytes) -> None:
    """A private temporary file beside the target (never following a planted symlink), then an atomic
    rename: a reader sees the old file or the whole new one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _inspect(path: Path, size_bytes: int, sha256: str) -> FileCheck:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return FileCheck.MISSING
    if not stat.S_ISREG(info.st_mode):  # a symlink or directory is not an uploaded file
        return FileCheck.MISSING
    if info.st_size != size_bytes:
        return FileCheck.SIZE_MISMATCH
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return FileCheck.MATCHES if digest.hexdigest() == sha256.lower() else FileCheck.HASH_MISMATCH
