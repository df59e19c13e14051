"""Live updates for a lender about the applications it was invited to: when bidding on one closes (or it
is withdrawn, or an offer on it is accepted), an invited provider is told, over real HTTP, as
list_invitations would show the change; a provider that was not invited is never told."""

from __future__ import annotations

import json
from typing import Any

from fastmcp import Client
from websockets.asyncio.client import connect

from tests.helpers.bidding import CLOSE, call, lender, market, uid
from tests.helpers.common import make_jwt
from tests.helpers.providers import SUSPEND
from tests.mcp_servers.test_live_updates import base_url, ready, ws_until, ws_url
from tools.platform.principal import Role

__all__ = ["base_url"]  # the module's server fixture, shared


async def test_an_invited_provider_is_told_when_bidding_closes_and_an_uninvited_one_is_not(
    base_url: str, client: Client, principal: Any, country: str
) -> None:
    app, (invited, _) = await market(client, principal, country, lenders=2)
    outsider = await lender(client, principal, country)  # onboarded after the invitations: not invited
    async with (
        connect(ws_url(base_url, make_jwt("lender-in", role="provider", provider_id=invited))) as mine,
        connect(ws_url(base_url, make_jwt("lender-out", role="provider", provider_id=outsider))) as theirs,
    ):
        await ready(mine)
        await ready(theirs)
        principal(uid("op-close"), Role.OPERATOR)
        await call(client, CLOSE, {"application": app["id"], "reason": "enough offers"})
        told = await ws_until(mine, app["id"], "bidding.closed")
        assert told[-1]["entity"] == "application" and told[-1]["reference"] == app["reference"]
        assert "enough offers" not in json.dumps(told)  # the event, never its payload
        # The outsider's own change, made after the close: it reaches it, the application never did.
        await call(client, SUSPEND, {"provider": outsider, "reason": "test hold"})
        seen = await ws_until(theirs, outsider, "provider.suspended")
        assert app["id"] not in {m["id"] for m in seen}
        assert {m["entity"] for m in seen} == {"provider"}
