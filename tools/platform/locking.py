"""The one order in which every use case takes row locks. Read this before writing a transaction.

Two transactions deadlock when each holds a row the other waits for. They cannot when every
transaction takes its locks in one global order, so every use case locks, as far as it locks them:

1. the idempotency key it claims (``claim_idempotency_key``);
2. the loan, then the loan's payment (servicing, payouts and their webhooks start from the loan);
3. the application (``applications.lock`` / ``locked_application``);
4. the application's own rows: its bids, its provider invitations, its bidding round. Only a
   transaction holding the application lock touches them, so among themselves their order is free;
5. providers: the lender's row, which an offer's reservation updates and a bid (placed or revised)
   holds FOR SHARE (an ``UPDATE`` of a provider row is a lock too and comes here); the workers' fold of
   decision tallies (migration 0046) locks several, in id order;
6. ledger accounts: never by hand. Posting a journal takes no balance lock; the balance cache is
   written at COMMIT, every account of the transaction in one statement, in account-code order
   (migration 0019), so the ledger's locks are always the last a transaction takes.

A transaction may skip levels and may touch again a row it already holds, but never takes a row of an
earlier level after one of a later level: to read a provider before locking the application, read it
without a lock. Row locks are ``FOR NO KEY UPDATE``: nothing updates a primary key, so inserts of
child rows (a bid naming its provider, an invitation naming its application) do not wait on them.

``tests/mcp_servers/test_concurrent_journeys.py`` records the locks every transaction of a journey
takes and checks them against ``LOCK_ORDER``. What the order cannot prevent (a deadlock between a
use case and an operator's manual SQL, a serialization failure) is replayed by
``database.unit_of_work.retry_transient`` (``tools.platform.transactions``).
"""

from __future__ import annotations

__all__ = ["LOCK_ORDER", "rank_of"]

# Level name -> the tables whose rows are locked at that level.
LOCK_ORDER: tuple[tuple[str, frozenset[str]], ...] = (
    ("idempotency key", frozenset({"idempotency_keys"})),
    ("loan", frozenset({"loans", "loan_installments"})),
    ("payment", frozenset({"payments"})),
    ("application", frozenset({"applications"})),
    ("application's rows", frozenset({"bids", "provider_invitations", "bidding_rounds"})),
    ("provider", frozenset({"providers"})),
    ("ledger account", frozenset({"account_balances"})),
)


def rank_of(table: str) -> int | None:
    """The level of ``table`` in ``LOCK_ORDER``, or None for a table no other use case locks first."""
    for rank, (_, tables) in enumerate(LOCK_ORDER):
        if table in tables:
            return rank
    return None
