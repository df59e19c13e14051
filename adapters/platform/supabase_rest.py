"""Supabase's tables over PostgREST (``/rest/v1``) with supabase-py's async client: the connection the
notification and support-chat stores share when only ``SUPABASE_URL`` and the service-role key are
configured (see ``mcp_servers.supabase_wiring.supabase_over_rest``).

Every failure (PostgREST down, too slow, refusing the key or the request) becomes one
``SupabaseUnavailable``: a tool reports it as ``unavailable``, a queue job retries it later. Its text
names the failure (a status or error code), never the row: PostgREST's own messages can quote values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from postgrest import APIError, APIResponse, AsyncQueryRequestBuilder, AsyncRequestBuilder
from supabase import AsyncClient, AsyncClientOptions

from adapters.platform.http import HttpClient
from tools.platform.errors import Unavailable
from tools.platform.jobs import RetryLater

__all__ = [
    "SupabaseRest",
    "SupabaseUnavailable",
    "gather_all",
    "jsonable",
    "keyset_filter",
    "now",
    "timestamp",
    "uuid_or_none",
]

T = TypeVar("T")

# Codes meaning the key (not the service) is wrong: PostgREST's JWT errors, PostgreSQL's "insufficient
# privilege", and the bare HTTP statuses supabase-py reports when the body is not PostgREST's JSON.
_KEY_REFUSED = {"PGRST300", "PGRST301", "PGRST302", "42501", "401", "403"}


class SupabaseUnavailable(Unavailable, RetryLater):
    """Supabase did not take the request. An ``Unavailable`` for the tools (error code ``unavailable``)
    and a ``RetryLater`` for the queues, so the notifications job is retried with backoff."""


class SupabaseRest:
    """supabase-py's async client over an httpx client with our timeouts. supabase-py's own retry of
    reads is off: a tool call should fail fast, and the job queue already retries with backoff."""

    def __init__(self, url: str, service_role_key: str, *, timeout: float = 10.0) -> None:
        self._http = HttpClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        self._client = AsyncClient(
            url,
            service_role_key,
            AsyncClientOptions(
                httpx_client=self._http,
                postgrest_client_retry=False,
                auto_refresh_token=False,
                persist_session=False,
            ),
        )

    def table(self, name: str) -> AsyncRequestBuilder:
        return self._client.table(name)

    async def execute(self, query: AsyncQueryRequestBuilder) -> APIResponse:
        try:
            return await query.execute()
        except APIError as exc:
            code = exc.code or "unknown"
            if code in _KEY_REFUSED:
                raise SupabaseUnavailable(
                    f"Supabase refused this server's access (code {code}); the operator should check "
                    "SUPABASE_SERVICE_ROLE_KEY"
                ) from None
            raise SupabaseUnavailable(
                f"Supabase did not take the request (code {code}); retry in a few seconds"
            ) from None
        except httpx.TimeoutException:
            raise SupabaseUnavailable("Supabase did not answer in time; retry in a few seconds") from None
        except httpx.HTTPError as exc:
            raise SupabaseUnavailable(
                f"Supabase is not reachable ({type(exc).__name__}); retry in a few seconds"
            ) from None

    async def rows(self, query: AsyncQueryRequestBuilder) -> list[dict[str, Any]]:
        data = (await self.execute(query)).data
        return [dict(r) for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []

    async def count(self, query: AsyncQueryRequestBuilder) -> int:
        """The exact count of a ``select(..., count=CountMethod.exact, head=True)`` query."""
        counted = (await self.execute(query)).count
        if counted is None:
            raise SupabaseUnavailable("Supabase answered a count without Content-Range; retry later")
        return counted

    async def ping(self) -> None:
        """Raise SupabaseUnavailable unless PostgREST answers a one-row read with this key (readiness)."""
        await self.execute(self.table("notifications").select("id").limit(1))

    async def aclose(self) -> None:
        await self._http.aclose()


async def gather_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run the calls concurrently and let every one finish before the first failure is raised (no
    request is left running behind a failed listing)."""
    done: list[T] = []
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        done.append(result)
    return done


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as PostgREST reads it: UUIDs and times as strings (ISO 8601 keeps the offset)."""
    return {k: _value(v) for k, v in row.items()}


def _value(v: Any) -> Any:
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def now() -> str:
    """This process's clock, for the few columns PostgREST cannot set to the database's now()."""
    return datetime.now(UTC).isoformat()


def timestamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def uuid_or_none(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))


def keyset_filter(columns: tuple[str, str], cursor: tuple[datetime, UUID], descending: bool) -> str:
    """The PostgREST ``or`` filter of a keyset page: rows strictly after ``cursor`` in (time, id)
    order. Values are double-quoted because a timestamp holds ':' and '+', which PostgREST's logic
    trees reserve."""
    op = "lt" if descending else "gt"
    time, ident = columns
    at = f'"{cursor[0].isoformat()}"'
    return f"{time}.{op}.{at},and({time}.eq.{at},{ident}.{op}.{cursor[1]})"
