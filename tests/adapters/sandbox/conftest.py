"""The sandbox and the receiver of its webhooks (the platform's side, stubbed), for the gateway and
registry tests of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.sandbox import Sandbox
from tests.helpers.common import serving
from tests.helpers.sandbox import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    r = Receiver()
    async with serving(r.app()) as url:
        yield r, url


@pytest.fixture
async def sandbox(receiver: tuple[Receiver, str]) -> AsyncIterator[Sandbox]:
    async with Sandbox(
        webhook_base_url=receiver[1], late_webhook_seconds=0.2, webhook_backoff_seconds=0.02
    ) as s:
        yield s
