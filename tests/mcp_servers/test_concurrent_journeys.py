"""Many journeys at once over shared lenders (issue 10, #17): each borrower applies, is verified and
scored, every shared lender is invited and bids, the borrower accepts the best offer, an operator
approves and originates, and the payout is confirmed. Twelve journeys run at a time, each over its own
in-memory MCP client against the real PostgreSQL, so ``place_bid`` on one application meets
``accept_offer`` and the disbursement journals of others on the same provider rows and ledger accounts.

No call may end in ``internal`` (a deadlock or serialization failure surfacing), no statement may wait
on a row lock for 2 s or more (sampled from ``pg_locks`` while the journeys run: the plan's 2 s, held
against what the database decides rather than against a wall clock the machine's load moves), and the
ledger must stay consistent: every journal balances, the trial balance is zero per currency, and every
cached balance equals the sum of its account's postings. The calls' wall-clock figures are printed (``-s``).

The market is a country of the test's own (the ``country`` fixture) in KES, so matching invites exactly
the lenders it made.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg
import pytest
from fastmcp import Client, FastMCP

from database import unit_of_work
from database.unit_of_work import PgUnitOfWork
from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, INVITE, PLACE, bid_body
from tests.helpers.confirm import person_confirms
from tests.helpers.errors import error_code
from tests.helpers.loans import ORIGINATE, disburse
from tests.helpers.providers import ONBOARD, provider_body
from tests.helpers.risk import APPROVE, APPROVE_BUREAU, SUBMIT, body, scored, uid, verify_kyc
from tools.platform.locking import LOCK_ORDER, rank_of
from tools.platform.principal import Principal, Role

CURRENCY = "KES"
JOURNEYS, AT_ONCE, LENDERS = 120, 12, 4
LIMIT_S = 2.0

# Who the in-memory client of the current journey calls as. A client's server tasks start inside the
# journey's task, so they see the journey's box and each journey switches principal on its own.
_box: contextvars.ContextVar[list[Principal]] = contextvars.ContextVar("journey_principal")


class JourneyPrincipals(PrincipalSource):
    def __init__(self, fallback: Principal) -> None:
        super().__init__(fallback)

    def current(self) -> Principal:
        box = _box.get(None)
        return box[0] if box else super().current()


@dataclass
class Calls:
    """Every call's tool, duration and error code (None when it succeeded)."""

    seen: list[tuple[str, float, str | None]] = field(default_factory=list)

    def failures(self) -> list[tuple[str, float, str | None]]:
        return [c for c in self.seen if c[2] is not None]


class TimedClient:
    """The journey's client as the helpers use it, timing each call and keeping its outcome."""

    def __init__(self, client: Client, calls: Calls) -> None:
        self._client, self._calls = client, calls

    async def call_tool(self, tool: str, args: dict[str, Any], raise_on_error: bool = True) -> Any:
        started = time.perf_counter()
        result = await self._client.call_tool(tool, args, raise_on_error=False)
        code = error_code(result)
        self._calls.seen.append((tool, time.perf_counter() - started, code))
        assert code is None, (tool, result.content)
        return result


def act_as(subject: str, role: Role = Role.BORROWER, provider_id: str | None = None) -> Principal:
    _box.get()[0] = Principal(subject, role, provider_id)
    return _box.get()[0]


@pytest.fixture
def journey_principals(runtime: Runtime) -> Iterator[None]:
    original = runtime.principals
    runtime.principals = JourneyPrincipals(original.local)
    yield
    runtime.principals = original


async def structured(client: TimedClient, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


@asynccontextmanager
async def journey_client(server: FastMCP, runtime: Runtime, calls: Calls) -> AsyncIterator[TimedClient]:
    """One journey runner's client, with a principal of its own (set before the client connects)."""
    _box.set([runtime.principals.local])
    # Its borrower confirms the acceptance when asked (a money move waits for a person).
    async with Client(server, mode="2026-07-28", elicitation_handler=person_confirms) as raw:
        yield TimedClient(raw, calls)


async def journey(
    client: TimedClient, runtime: Runtime, lenders: list[str], calls: Calls, country: str
) -> None:
    act_as(uid("b-crowd"))
    payload = body(40, currency=CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await structured(client, SUBMIT, {"application": payload})
    await verify_kyc(client, act_as, app, "national_id", "proof_of_income")  # type: ignore[arg-type]
    view = await scored(client, act_as, app, APPROVE_BUREAU, uid("op-score"))  # type: ignore[arg-type]
    assert view["application_status"] == "open_for_bids", view
    act_as(uid("op-match"), Role.OPERATOR)
    report = await structured(client, INVITE, {"application": app["id"]})
    assert sorted(r["provider_id"] for r in report["ranking"]) == sorted(lenders)
    bids = []
    for n, provider in enumerate(lenders):
        act_as(uid("lender-user"), Role.PROVIDER, provider)
        rate = f"0.{20 + n}"
        # A fee: the disbursement then gives it back to the lender's capital (a provider row).
        bid = bid_body(currency=CURRENCY, annual_rate=rate, origination_fee="1000.00")
        bids.append(await structured(client, PLACE, {"application": app["id"], "bid": bid}))
    act_as(app["borrower_id"])
    accept = {"application": app["id"], "bid": bids[0]["id"], "idempotency_key": uid("accept")}
    await structured(client, ACCEPT, accept)
    act_as(uid("op-approve"), Role.OPERATOR)
    await structured(client, APPROVE, {"application": app["id"], "comment": "identity verified"})
    act_as(uid("op-loans"), Role.OPERATOR)
    loan = await structured(client, ORIGINATE, {"application": app["id"]})
    started = time.perf_counter()
    active = await disburse(runtime, loan)
    calls.seen.append(("confirm_disbursement", time.perf_counter() - started, None))
    assert active["status"] == "active"


async def shared_lenders(server: FastMCP, runtime: Runtime, country: str) -> list[str]:
    _box.set([runtime.principals.local])
    act_as(uid("op-onboard"), Role.OPERATOR)
    ids = []
    async with Client(server, mode="2026-07-28") as client:
        for _ in range(LENDERS):
            terms = provider_body(
                currency=CURRENCY, countries=[country], min_amount="500.00", capital_available="1000000000.00"
            )
            done = await client.call_tool(ONBOARD, {"provider": terms})
            ids.append(str(done.structured_content["provider"]["id"]))
    return ids


async def ledger_problems(db: asyncpg.Connection) -> dict[str, Any]:
    return {
        "trial_balance": await db.fetch(
            "SELECT currency, sum(amount_minor) AS total FROM caas_ledger.postings "
            "GROUP BY currency HAVING sum(amount_minor) <> 0"
        ),
        "cache_differs": await db.fetch(
            "SELECT a.code FROM caas_ledger.accounts a "
            "LEFT JOIN caas_ledger.account_balances b ON b.account_id = a.id "
            "LEFT JOIN (SELECT account_id, sum(amount_minor) AS s FROM caas_ledger.postings GROUP BY 1) p "
            "ON p.account_id = a.id WHERE coalesce(b.balance_minor, 0) <> coalesce(p.s, 0)"
        ),
        "capital_differs": await db.fetch(
            "SELECT p.id FROM caas_core.providers p JOIN caas_ledger.accounts a "
            "ON a.owner_type = 'provider' AND a.owner_id = p.id::text "
            "AND a.code LIKE '%:capital_available:%' "
            "JOIN caas_ledger.account_balances b ON b.account_id = a.id "
            "WHERE p.currency = $1 AND p.status = 'active' AND p.capital_available_minor <> b.balance_minor",
            CURRENCY,
        ),
    }


class LockWaits:
    """The longest time any statement of this database waited for a lock, sampled every 50 ms."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db
        self.longest = 0.0

    @asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                waited = await self.db.fetchval(
                    "SELECT coalesce(extract(epoch FROM max(clock_timestamp() - l.waitstart)), 0)::float8"
                    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE NOT l.granted AND a.datname = current_database()"
                )
                self.longest = max(self.longest, waited)
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            yield
            tg.cancel_scope.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.slow
@pytest.mark.usefixtures("journey_principals")
async def test_many_journeys_over_shared_lenders_neither_fail_nor_stall(
    server: FastMCP, runtime: Runtime, core_db: asyncpg.Connection, country: str
) -> None:
    lenders = await shared_lenders(server, runtime, country)
    waits = LockWaits(core_db)
    calls, errors, left = Calls(), [], list(range(JOURNEYS))

    async def runner() -> None:
        # One client per runner, as twelve agents would each hold one session: a client compiles the
        # tools' output schemas once, not once per journey.
        async with journey_client(server, runtime, calls) as client:
            while left:
                left.pop()
                try:
                    await journey(client, runtime, lenders, calls, country)
                except Exception as exc:  # kept, so one broken journey does not hide the others' figures
                    errors.append(repr(exc)[:300])

    async with anyio.create_task_group() as tg, waits.sampling():
        for _ in range(AT_ONCE):
            tg.start_soon(runner)

    durations = [d for _, d, _ in calls.seen]
    slowest = sorted(calls.seen, key=lambda c: -c[1])[:5]
    figures = f"{len(durations)} calls, max {max(durations):.3f}s, p95 {percentile(durations, 0.95):.3f}s"
    by_tool: dict[str, list[float]] = {}
    for tool, duration, _ in calls.seen:
        by_tool.setdefault(tool, []).append(duration)
    table = "\n".join(
        f"  {t:40s} n={len(d):4d} max={max(d):.3f}s p95={percentile(d, 0.95):.3f}s"
        for t, d in sorted(by_tool.items())
    )
    print(f"\n{figures}, longest row-lock wait {waits.longest:.3f}s\n{table}")  # noqa: T201 - the figures the issue asks for, shown with -s
    assert errors == [], (errors[:5], figures)
    assert calls.failures() == []
    assert len(calls.seen) >= JOURNEYS * (9 + LENDERS)
    assert {k: v for k, v in (await ledger_problems(core_db)).items() if v} == {}
    assert waits.longest < LIMIT_S, (waits.longest, figures, slowest)


async def test_a_journey_runs_on_a_pool_of_one_connection(
    settings: Settings, core_db: asyncpg.Connection, country: str
) -> None:
    # A use case holding its transaction's connection must read through it, not the pool: such a call
    # waits for a second connection, and as many at once as the pool's size (3 in a service process)
    # wait forever. tests/tools/test_reads_inside_a_transaction.py finds the direct cases in the source;
    # this also catches a helper handed ``deps`` inside a transaction (score_application's, once).
    lone = Runtime(settings.model_copy(update={"pool_min_size": 1, "pool_max_size": 1}))
    async with lone.session():
        lone.principals = JourneyPrincipals(lone.principals.local)
        server, calls = build_server(lone), Calls()
        with anyio.fail_after(90):  # a second connection would never come
            lenders = await shared_lenders(server, lone, country)
            async with journey_client(server, lone, calls) as client:
                await journey(client, lone, lenders, calls, country)
    assert calls.failures() == []
    assert [tool for tool, _, _ in calls.seen][-3:] == [APPROVE, ORIGINATE, "confirm_disbursement"]


_ROW_LOCK = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)(?:\s+OF\s+(\w+))?", re.IGNORECASE)
_UPDATE = re.compile(r"\bUPDATE\s+caas_\w+\.(\w+)", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+caas_\w+\.(\w+)(?:\s+(\w+))?", re.IGNORECASE)
_UPSERT = re.compile(
    r"INSERT\s+INTO\s+caas_\w+\.(\w+)[^;]*ON\s+CONFLICT[^;]*DO\s+UPDATE", re.IGNORECASE | re.S
)
_POSTINGS = re.compile(r"INSERT\s+INTO\s+caas_ledger\.postings", re.IGNORECASE)


def locked_tables(sql: str, balances_at_post: bool) -> list[str]:
    """The tables whose existing rows ``sql`` locks, in the order the statement locks them."""
    found = [(m.start(), m.group(1)) for m in _UPDATE.finditer(sql)]
    found += [(m.start(), m.group(1)) for m in _UPSERT.finditer(sql)]
    lock = _ROW_LOCK.search(sql)
    if lock:
        sources = list(_FROM.finditer(sql))
        chosen = next((m for m in sources if lock.group(1) and m.group(2) == lock.group(1)), sources[0])
        found.append((chosen.start(), chosen.group(1)))
    if balances_at_post and _POSTINGS.search(sql):  # the balance rows, as the journal posts
        found.append((len(sql), "account_balances"))
    return [table for _, table in sorted(found)]


class RecordingConnection:
    """The unit of work's connection, noting every locking statement's tables."""

    def __init__(self, conn: Any, seen: list[str], balances_at_post: bool) -> None:
        self._conn, self._seen, self._at_post = conn, seen, balances_at_post

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def _note(self, sql: str) -> None:
        self._seen.extend(locked_tables(sql, self._at_post))

    async def execute(self, sql: str, *args: Any, **kw: Any) -> Any:
        self._note(sql)
        return await self._conn.execute(sql, *args, **kw)

    async def fetch(self, sql: str, *args: Any, **kw: Any) -> Any:
        self._note(sql)
        return await self._conn.fetch(sql, *args, **kw)

    async def fetchrow(self, sql: str, *args: Any, **kw: Any) -> Any:
        self._note(sql)
        return await self._conn.fetchrow(sql, *args, **kw)

    async def fetchval(self, sql: str, *args: Any, **kw: Any) -> Any:
        self._note(sql)
        return await self._conn.fetchval(sql, *args, **kw)


def out_of_order(tables: list[str]) -> bool:
    """True when a level is first entered after a later one (touching a held level again is fine)."""
    ranks = [r for r in (rank_of(t) for t in tables) if r is not None]
    firsts = [r for n, r in enumerate(ranks) if r not in ranks[:n]]
    return firsts != sorted(firsts)


@pytest.mark.usefixtures("journey_principals")
async def test_every_transaction_of_a_journey_takes_its_row_locks_in_the_global_order(
    server: FastMCP,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    country: str,
) -> None:
    # Before migration 0019 the balance rows were locked as each journal posted.
    balances_at_post = await core_db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'postings_update_balances')"
    )
    transactions: list[list[str]] = []

    class RecordingUnitOfWork(PgUnitOfWork):
        def __init__(self, conn: Any, **kw: Any) -> None:
            transactions.append([])
            super().__init__(RecordingConnection(conn, transactions[-1], balances_at_post), **kw)

    lenders = await shared_lenders(server, runtime, country)
    monkeypatch.setattr(unit_of_work, "PgUnitOfWork", RecordingUnitOfWork)
    calls = Calls()
    async with journey_client(server, runtime, calls) as client:
        await journey(client, runtime, lenders, calls, country)

    levels = {rank_of(t) for tx in transactions for t in tx} - {None}
    assert len(levels) >= 5, levels  # the journey reached most levels: the check is not vacuous
    order = [name for name, _ in LOCK_ORDER]
    assert [tx for tx in transactions if out_of_order(tx)] == [], f"lock in the order {order}"
