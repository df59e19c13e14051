"""CI smoke test of the README's first command: the running product answers over HTTP."""

import asyncio
import sys

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

APPLICATION = {
    "borrower_id": "smoke-borrower",
    "applicant": {
        "full_name": "Smoke Test",
        "email": "smoke@example.com",
        "country": "NG",
        "date_of_birth": "1990-06-01",
    },
    "currency": "NGN",
    "amount": "150000.00",
    "term_months": 6,
    "purpose": "personal",
    "monthly_income": "300000.00",
    "monthly_obligations": "0.00",
    "employment": {"status": "employed", "months_in_employment": 12},
}


async def main(url: str, token: str) -> None:
    # The local operator files an application here, beyond an operator's default toolsets: ask for all.
    transport = StreamableHttpTransport(url, auth=token, headers={"X-CaaS-Toolsets": "all"})
    async with Client(transport) as client:
        names = {t.name for t in await client.list_tools()}
        assert "credit_submit_application" in names, names
        app = (
            await client.call_tool("credit_submit_application", {"application": APPLICATION})
        ).structured_content
        got = (
            await client.call_tool("credit_get_application", {"application": app["reference"]})
        ).structured_content
        assert got["id"] == app["id"]
        page = (await client.call_tool("credit_list_applications", {"limit": 5})).structured_content
        assert app["id"] in {i["id"] for i in page["items"]}
        scored = await client.call_tool("risk_score_application", {"application": app["id"]})
        assert scored.structured_content["application_status"] != "submitted"
        sys.stdout.write(f"smoke: submitted {app['reference']} over HTTP ({client.protocol_version})\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
