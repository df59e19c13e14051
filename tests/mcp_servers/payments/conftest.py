"""The payments tests' HTTP platform: webhooks are posted to it and the service's MCP endpoint is
reached through it, one server per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY
from tests.helpers.payments import platform_over_http


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with platform_over_http(runtime) as url:
        yield url


@pytest.fixture
async def mcp(base_url: str) -> AsyncIterator[Client]:
    async with Client(f"{base_url}/mcp", auth=SERVICE_KEY) as c:
        yield c
