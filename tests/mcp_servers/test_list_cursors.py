"""Every list's cursor is bound to the list and the filters that issued it (real PostgreSQL, through
the MCP client).

A keyset position means something only where it came from. list_loans' next_cursor used to be
accepted by list_applications (the same (created_at, id) shape) and a cursor issued under status=active
by the same list with other filters: either silently skipped or repeated rows. Every tool taking a
``cursor`` is found here from the server's tool list, so the next list is covered as soon as it has
arguments in ``world``; each of its filters must be shown to bind the cursor.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.platform.workers import relay_outbox
from mcp_servers.runtime import Runtime
from tests.helpers import notifications as chat
from tests.helpers.bidding import CURRENCY, market, place
from tests.helpers.documents import new_application, registered, scan
from tests.helpers.errors import error_code, error_message
from tests.helpers.ledger import capital, deposit, new_provider, post, reserve
from tests.helpers.loans import originated
from tests.helpers.payments import disburse
from tests.helpers.providers import onboard
from tests.helpers.risk import REFER_BUREAU, scored, submitted, uid
from tools.ledger.domain.chart import account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.platform.principal import Role

PAGING = {"cursor", "limit"}
# Keys that name an item once in each list's answer, the first one an item has.
KEYS = ("id", "event_id", "posting_id", "journal_id", "provider_id")


def _commission(provider_id: str) -> JournalDraft:
    """A commission journal as a disbursement posts it, for the statement and the platform's revenue."""
    return JournalDraft(
        JournalKind.COMMISSION,
        f"loan-{uid('cursor')}",
        "commission at disbursement",
        (
            debit(account("provider", "commission_expense", CURRENCY, provider_id), 1_000),
            credit(account("platform", "commission_income", CURRENCY), 1_000),
        ),
    )


async def _conversations(client: Client, principal: Any) -> tuple[str, list[str]]:
    """A borrower's two conversations, the first with an operator's two replies (two notices)."""
    borrower = principal(uid("b-cursor"), Role.BORROWER).subject
    opened = [
        (await chat.call(client, chat.OPEN, {"subject": f"Question {n}", "message": "Where is it?"}))[
            "conversation"
        ]["id"]
        for n in range(2)
    ]
    principal(uid("op-support"), Role.OPERATOR)
    for n in range(2):
        await chat.call(client, chat.POST, {"conversation": opened[0], "message": f"Answer {n}."})
    return borrower, opened


async def _loans(client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection) -> list[str]:
    """Two loans, each paid out (a payment each); their ids."""
    loans = [(await originated(client, principal, runtime, db))[0] for _ in range(2)]
    principal(uid("op-pay"), Role.OPERATOR)
    for loan in loans:
        await disburse(client, loan)
    return [loan["id"] for loan in loans]


async def _postings(runtime: Runtime, lenders: list[str]) -> str:
    """Three postings of a new lender's capital, whose id this is, and two commissions of each of
    ``lenders``."""
    owner = new_provider()
    await post(runtime, deposit(owner, 10_000), reserve(owner, 100), reserve(owner, 200))
    await post(runtime, *(_commission(lender) for lender in lenders for _ in range(2)))
    return owner


async def world(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, country: str
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Two rows at least in every list: each list tool's arguments (its plain name) and, for a filter
    whose other value the schema cannot tell, one."""
    app, lenders = await market(client, principal, country, lenders=2)
    for lender in lenders:
        await place(client, principal, app, lender)
    while await relay_outbox(runtime.workers.store, 500):  # the invitations' webhook deliveries, unsent
        pass
    borrower = principal(uid("b-docs"), Role.BORROWER).subject
    papers = [await new_application(client, principal, borrower) for _ in range(2)]
    for n in range(2):
        await registered(client, papers[0], scan(f"cursor-{n}"))
        await scored(client, principal, await submitted(client, principal), REFER_BUREAU, uid("op-score"))
    loans = await _loans(client, principal, runtime, db)
    owner = await _postings(runtime, lenders)
    chatter, talks = await _conversations(client, principal)
    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    period = {"period_start": yesterday, "period_end": today.isoformat()}
    base: dict[str, dict[str, Any]] = {
        "list_applications": {"borrower_id": borrower},
        "list_review_queue": {},
        "list_loans": {"currency": "NGN"},
        "get_commission_statement": {"provider": lenders[0], **period},
        "get_platform_revenue": {"currency": CURRENCY, **period},
        "list_documents": {"application": papers[0]["id"]},
        "list_account_postings": {"account": capital(owner, "capital_available").code},
        "list_providers": {"country": country},
        "list_webhook_deliveries": {"provider": lenders[0]},
        "list_invitations": {"application": app["id"]},
        "list_bids": {"application": app["id"]},
        "list_payments": {"kind": "disbursement"},
        "list_notifications": {"user_id": chatter},
        "get_support_conversation": {"conversation": talks[0]},
        "list_support_conversations": {"user_id": chatter},
        "list_provider_benchmarks": {"currency": CURRENCY},
    }
    other: dict[str, dict[str, Any]] = {
        "list_applications": {
            "national_id": "A1234567",
            "created_from": f"{yesterday}T00:00:00Z",
            "created_to": f"{yesterday}T00:00:00Z",
        },
        "list_loans": {"provider": lenders[0]},
        # Each value alone is another filter: one end of the period moved is another period.
        "get_commission_statement": {
            "provider": lenders[1],
            "period_start": today.isoformat(),
            "period_end": yesterday,
            "currency": "NGN",
        },
        "get_platform_revenue": {
            "currency": "NGN",
            "period_start": today.isoformat(),
            "period_end": yesterday,
        },
        "list_documents": {"application": papers[1]["id"]},
        "list_account_postings": {"account": capital(owner, "capital_reserved").code},
        "list_providers": {"provider_type": "microfinance", "currency": "NGN"},
        "list_webhook_deliveries": {"event_type": "provider."},
        "list_invitations": {"provider": lenders[0]},
        "list_bids": {"provider": lenders[0], "application": papers[1]["id"]},
        "list_payments": {"loan": loans[0]},
        "list_notifications": {"user_id": borrower},
        "get_support_conversation": {"conversation": talks[1]},
        "list_support_conversations": {"user_id": borrower},
    }
    return base, other


# What a hand-made cursor may hold in place of its position, every one refused in any place: text no
# query can take (a NUL, a lone surrogate, a control), beyond a bigint, other JSON kinds.
HOSTILE_POSITIONS = ["a\x00b", "\ud800", "\x1b", 2**63, -(2**63) - 1, 1.5, True, None, [], {}]


def hand_made(cursor: str) -> list[str]:
    """``cursor`` with its list and filters kept (so both checks pass) and its position tampered with:
    each value swapped for a hostile one, one value too few, one too many."""
    name, digest, *position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    made = [
        [*position[:i], bad, *position[i + 1 :]] for i in range(len(position)) for bad in HOSTILE_POSITIONS
    ]
    made += [position[:-1], [*position, 0]]
    return [
        base64.urlsafe_b64encode(json.dumps([name, digest, *p]).encode()).decode().rstrip("=") for p in made
    ]


def _schema(tool: Any) -> tuple[dict[str, Any], set[str]]:
    schema = tool.input_schema
    return schema.get("properties", {}), set(schema.get("required", []))


def _guess(node: dict[str, Any]) -> tuple[bool, Any]:
    """Another value of a filter the caller left out, where the schema tells one."""
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    items = [v for v in node.get("items", {}).get("enum", []) if v is not None]
    choices = [v for v in node.get("enum", []) if v is not None]
    if "array" in types and items:
        return True, [items[-1]]
    if choices:
        return True, choices[-1]
    if "boolean" in types:
        return True, not node.get("default", False)
    if "integer" in types:
        return True, node.get("minimum", 0) + 1
    return False, None


def changed_filters(tool: Any, args: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    """``args`` with one filter changed, for every filter the tool takes: each must bind the cursor."""
    properties, required = _schema(tool)
    variants = []
    for name in sorted(set(properties) - PAGING):
        if name in other:
            value = other[name]
        elif name in args and name not in required:
            value = None
        else:
            known, value = _guess(properties[name])
            assert known, f"{tool.name}: name another value of {name} in world()'s second mapping"
        changed = {k: v for k, v in (args | {name: value}).items() if v is not None}
        assert changed != args, f"{tool.name}: {name} is unchanged"
        variants.append(changed)
    return variants


# Lists on a page that are not its items: the same on every page.
NOT_ITEMS = {"other_currencies"}


def _items(page: dict[str, Any]) -> list[Any]:
    [found] = [v for k, v in page.items() if isinstance(v, list) and k not in NOT_ITEMS] or [[]]
    return [next((item[k] for k in KEYS if k in item), item) for item in found]


async def _call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return await client.call_tool(tool, args, raise_on_error=False)


async def walk(
    client: Client, tool: str, args: dict[str, Any], limits: list[int]
) -> tuple[list[Any], list[str]]:
    """Every item of the list, page after page at the page sizes given in turn (a page size is not a
    filter: it may change from page to page), and every next_cursor on the way."""
    items: list[Any] = []
    cursors: list[str] = []
    cursor = None
    for limit in cycle(limits):
        result = await _call(client, tool, args | {"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert not result.is_error, (tool, args, error_message(result))
        items += _items(result.structured_content)
        if (cursor := result.structured_content["next_cursor"]) is None:
            return items, cursors
        cursors.append(cursor)
    raise AssertionError("unreachable")


async def refusal(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await _call(client, tool, args)
    assert error_code(result) == "invalid_argument", (tool, args, result.structured_content)
    return error_message(result)


async def test_every_list_refuses_another_lists_cursor_and_one_of_other_filters(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, country: str
) -> None:
    base, other = await world(client, principal, runtime, core_db, country)
    principal(uid("admin-cursor"), Role.ADMIN)
    tools = {t.name: t for t in await client.list_tools() if "cursor" in t.input_schema.get("properties", {})}
    plain = {
        name: next(p for p in base if name.endswith(f"_{p}"))
        for name in tools
        if any(name.endswith(f"_{p}") for p in base)
    }
    assert set(plain) == set(tools), (
        f"give these lists arguments in world(): {sorted(set(tools) - set(plain))}"
    )
    assert set(plain.values()) == set(base), "a list world() names is gone or renamed"

    walked: dict[str, tuple[list[Any], list[str]]] = {}
    for name, short in plain.items():
        whole, _ = await walk(client, name, base[short], [100])
        items, cursors = walked[name] = await walk(client, name, base[short], [1, 5])
        # Page by page under the same filters: every row once, as one long page has them.
        assert items == whole and len({repr(i) for i in items}) == len(items), name
        assert cursors, f"{name}: world() gave it a single page; it needs two rows at least"

    for name, short in plain.items():
        for source, (_, cursors) in walked.items():
            if source != name:
                message = await refusal(client, name, base[short] | {"cursor": cursors[0]})
                assert "another list's next_cursor" in message, (name, source, message)
        for args in changed_filters(tools[name], base[short], other.get(short, {})):
            message = await refusal(client, name, args | {"cursor": walked[name][1][0]})
            assert "same filters" in message and "leave cursor out" in message, (name, args, message)

    for name, short in plain.items():  # the refusals changed nothing: the same rows, page by page
        assert (await walk(client, name, base[short], [1, 5]))[0] == walked[name][0], name


async def test_every_list_refuses_its_own_cursor_with_a_hostile_position(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, country: str
) -> None:
    """get_platform_revenue took a position's text to PostgreSQL as it came: a NUL or a lone surrogate
    in a hand-made cursor of the right list and filters was an internal error."""
    base, _ = await world(client, principal, runtime, core_db, country)
    principal(uid("admin-cursor"), Role.ADMIN)
    tools = [t.name for t in await client.list_tools() if "cursor" in t.input_schema.get("properties", {})]
    for name in tools:
        args = base[next(p for p in base if name.endswith(f"_{p}"))]
        _, cursors = await walk(client, name, args, [1])
        for cursor in hand_made(cursors[0]):
            assert "not one this server issued" in await refusal(client, name, args | {"cursor": cursor})


async def test_a_months_statement_resource_hands_its_cursor_on_to_the_tool(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    """The one list that shares its cursor on purpose: the statement resource's first page (100 lines)
    and get_commission_statement for the same provider and month are one list."""
    principal(uid("op"), Role.OPERATOR)
    provider = (await onboard(client, principal, currency=CURRENCY))["provider"]["id"]
    await post(runtime, *(_commission(provider) for _ in range(101)))
    today = datetime.now(UTC).date()
    first = json.loads(
        (await client.read_resource(f"caas://providers/{provider}/statements/{today:%Y-%m}"))[0].text
    )
    assert len(first["lines"]) == 100 and first["next_cursor"]
    month = {"provider": provider, "period_start": first["period_start"], "period_end": first["period_end"]}
    rest = await client.call_tool("credit_get_commission_statement", month | {"cursor": first["next_cursor"]})
    assert len(rest.structured_content["lines"]) == 1 and rest.structured_content["next_cursor"] is None
    ids = {line["journal_id"] for line in first["lines"] + rest.structured_content["lines"]}
    assert len(ids) == 101
    day = month | {"period_end": first["period_start"], "cursor": first["next_cursor"]}  # its first day
    assert "same filters" in await refusal(client, "credit_get_commission_statement", day)
