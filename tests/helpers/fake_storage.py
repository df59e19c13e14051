"""A real loopback HTTP server standing in for Supabase Storage (``/storage/v1``): the routes that
storage3 and a client with a signed upload URL use, answering as Storage does.

- ``POST /object/upload/sign/{bucket}/{path}`` (service key) -> ``{"url": "/object/upload/sign/
  {bucket}/{path}?token=..."}``
- ``PUT /object/upload/sign/{bucket}/{path}?token=...`` (no key: the token is the permission; the
  file as the raw body, or as the ``file`` part of a multipart form like storage3 sends it) ->
  ``{"Key": "{bucket}/{path}"}``; a token for another object is refused, a second upload is a
  ``Duplicate``
- ``GET /object/info/{bucket}/{path}`` (service key) -> the object's info (``size``, ``etag``...)
- ``GET /object/authenticated/{bucket}/{path}`` (service key) -> the object's bytes

Errors carry Storage's body ``{"statusCode", "error", "message"}``. ``mode`` makes the keyed routes
misbehave for a test: an HTTP error status, a hang, an answer without a token, a non-JSON page.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.helpers.common import serving

Mode = Literal["ok", "status", "hang", "no_token", "not_json"]


@dataclass
class SeenRequest:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    created_at: datetime


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"statusCode": str(status), "error": error, "message": message}, status_code=status)


@dataclass
class FakeStorage:
    key: str
    bucket: str
    url: str = ""
    mode: Mode = "ok"
    status: int = 500
    seen: list[SeenRequest] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    objects: dict[str, StoredObject] = field(default_factory=dict)  # by "{bucket}/{path}"
    signed: dict[str, str] = field(default_factory=dict)  # token -> "{bucket}/{path}"
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def requests(self, method: str, route: str) -> list[SeenRequest]:
        """What was sent to one route, e.g. ``requests("GET", "/object/info/")``."""
        return [r for r in self.seen if r.method == method and r.raw_path.startswith("/storage/v1" + route)]

    async def _record(self, request: Request) -> None:
        raw = request.scope.get("raw_path", b"").decode()
        self.seen.append(SeenRequest(request.method, raw, dict(request.headers), await request.body()))

    async def _refusal(self, request: Request) -> Response | None:
        """What a keyed route answers instead of its own answer: a test's failure mode, a wrong key,
        an unknown bucket; None when the request goes through."""
        if self.mode == "hang":
            await self.release.wait()  # until the test is over; the client gives up first
        if self.mode == "status":
            return _error(self.status, "Bucket not found", "Bucket not found")
        if self.mode == "not_json":
            return PlainTextResponse("<html>gateway</html>")
        if request.headers.get("apikey") != self.key or request.headers.get("authorization") != (
            f"Bearer {self.key}"
        ):
            return _error(400, "InvalidJWT", "invalid signature")
        if request.path_params["bucket"] != self.bucket:
            return _error(404, "Bucket not found", "Bucket not found")
        return None

    async def describe_bucket(self, request: Request) -> Response:
        await self._record(request)
        refused = await self._refusal(request)
        return refused or JSONResponse({"id": self.bucket, "name": self.bucket, "public": False})

    def _object(self, request: Request) -> str:
        return f"{request.path_params['bucket']}/{request.path_params['path']}"

    async def sign(self, request: Request) -> Response:
        await self._record(request)
        if (refused := await self._refusal(request)) is not None:
            return refused
        raw = request.scope.get("raw_path", b"").decode()
        if self.mode == "no_token":
            return JSONResponse({"url": raw.removeprefix("/storage/v1")})
        token = secrets.token_urlsafe(16)
        self.tokens.append(token)
        self.signed[token] = self._object(request)
        return JSONResponse({"url": f"{raw.removeprefix('/storage/v1')}?token={token}"})

    async def upload(self, request: Request) -> Response:
        await self._record(request)
        name = self._object(request)
        if self.signed.get(request.query_params.get("token", "")) != name:
            return _error(400, "InvalidSignature", "The url do not match the signature")
        if name in self.objects:
            return _error(409, "Duplicate", "The resource already exists")
        content_type = request.headers.get("content-type", "application/octet-stream")
        if content_type.startswith("multipart/form-data"):
            part = (await request.form()).get("file")
            assert isinstance(part, UploadFile), "a multipart upload carries the file as 'file'"
            data, content_type = await part.read(), part.content_type or "application/octet-stream"
        else:
            data = await request.body()
        self.objects[name] = StoredObject(data, content_type, datetime.now(UTC))
        return JSONResponse({"Key": name, "Id": str(uuid.uuid4())})

    async def info(self, request: Request) -> Response:
        await self._record(request)
        if (refused := await self._refusal(request)) is not None:
            return refused
        stored = self.objects.get(self._object(request))
        if stored is None:
            return _error(404, "not_found", "Object not found")
        at = stored.created_at.isoformat()
        return JSONResponse(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self._object(request))),
                "name": request.path_params["path"],
                "version": str(uuid.uuid4()),
                "bucket_id": request.path_params["bucket"],
                "size": len(stored.data),
                "content_type": stored.content_type,
                "cache_control": "max-age=3600",
                "etag": f'"{hashlib.md5(stored.data).hexdigest()}"',  # Storage's ETag is an MD5
                "metadata": {},
                "last_modified": at,
                "created_at": at,
            }
        )

    async def download(self, request: Request) -> Response:
        await self._record(request)
        if (refused := await self._refusal(request)) is not None:
            return refused
        stored = self.objects.get(self._object(request))
        if stored is None:
            return _error(404, "not_found", "Object not found")
        return Response(stored.data, media_type=stored.content_type)


@asynccontextmanager
async def fake_storage(key: str, bucket: str) -> AsyncIterator[FakeStorage]:
    fake = FakeStorage(key, bucket)
    object_path = "{bucket}/{path:path}"
    app = Starlette(
        routes=[
            Route(f"/storage/v1/object/upload/sign/{object_path}", fake.sign, methods=["POST"]),
            Route(f"/storage/v1/object/upload/sign/{object_path}", fake.upload, methods=["PUT"]),
            Route(f"/storage/v1/object/info/{object_path}", fake.info, methods=["GET"]),
            Route(f"/storage/v1/object/authenticated/{object_path}", fake.download, methods=["GET"]),
            Route("/storage/v1/bucket/{bucket}", fake.describe_bucket, methods=["GET"]),
        ]
    )
    async with serving(app, lifespan="off") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # requests held open by a test must end before the server can stop
