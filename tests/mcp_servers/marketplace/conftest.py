"""The lenders' webhook receiver of this folder's webhook tests (one per test module), and ``hooks``: the
receiver with the client, the caller, the database and the market of one test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.webhooks import Hooks, Receiver, receiving


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
def hooks(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    runtime: Runtime,
    receiver: Receiver,
    country: str,
) -> Hooks:
    return Hooks(client, principal, core_db, runtime, receiver, country)
