"""What in the payments needs a person, counted for platform_health: each through a partial index
that holds only such rows, never the book."""

from __future__ import annotations

import asyncpg

from tools.payments.ports import Flagged

__all__ = [
    "BOOKING",
    "DISPUTED",
    "DISPUTED_SUCCESSES",
    "OTHER_BODIES",
    "RECOVERED",
    "SETTLED",
    "UNAPPLIED_RECEIPTS",
    "UNDONE_AFTER_SUCCESS",
    "flagged",
]

# A succeeded payment's booking (suspense, payout_recovery), ``j``, and where it stands: reversed, its
# money went back (a payer refunded) or came back (a payout recovered); written off, a payout_loss not
# itself reversed (nothing is left for a person to do, though the recipient still has the money).
_BOOKED = (
    "SELECT 1 FROM caas_ledger.journals j "
    "WHERE j.kind IN ('suspense', 'payout_recovery') AND j.source_id = p.id::text"
)
_RETURNED = (
    "EXISTS (SELECT 1 FROM caas_ledger.journals r WHERE r.kind = 'reversal' AND r.source_id = j.id::text)"
)
_WRITTEN_OFF = (
    "EXISTS (SELECT 1 FROM caas_ledger.journals w WHERE w.kind = 'payout_loss' AND w.source_id = j.id::text "
    "AND NOT EXISTS (SELECT 1 FROM caas_ledger.journals x WHERE x.kind = 'reversal' "
    "AND x.source_id = w.id::text))"
)
# Reversed. A payout applied after its booking (tools.payments.core._apply_booked_payout) is reversed
# too, so this counts only with ``last_error`` (not applied).
RECOVERED = f"{_BOOKED} AND {_RETURNED}"
# Reversed or written off (a written-off payout still holds its loan: RECOVERED alone does not).
SETTLED = f"{_BOOKED} AND ({_RETURNED} OR {_WRITTEN_OFF})"
# Where the booking of payment $1 stands (tools.payments.domain.payments.Booking); no row: none.
BOOKING = (
    f"SELECT CASE WHEN {_RETURNED} THEN 'returned' WHEN {_WRITTEN_OFF} THEN 'written_off' ELSE 'owed' END "
    "FROM caas_ledger.journals j WHERE j.kind IN ('suspense', 'payout_recovery') AND j.source_id = $1"
)
# A success a vendor reported that the platform rejected (migration 0042's index), of a payment that
# has not succeeded since: money may have moved that nothing recorded.
DISPUTED = (
    "SELECT 1 FROM caas_core.webhook_inbox i WHERE i.outcome = 'rejected' "
    "AND i.event_type IN ('charge.success', 'transfer.success')"
)
DISPUTED_SUCCESSES = (
    f"SELECT count(DISTINCT i.payment_id) FROM ({DISPUTED.replace('SELECT 1', 'SELECT i.payment_id', 1)}) i "
    "JOIN caas_core.payments p ON p.id = i.payment_id WHERE p.status <> 'succeeded'"
)
# A count and the first five ids, one statement.
OTHER_BODIES = (
    "SELECT count(*) OVER () AS count, source || ':' || event_id AS id FROM caas_core.webhook_inbox "
    "WHERE other_bodies > 0 AND other_body_at > now() - $1::interval ORDER BY other_body_at DESC LIMIT 5"
)
# A reversal reported of a payout that had succeeded (tools.payments.core._undone_after_success):
# rejected, through migration 0044's partial index.
UNDONE_AFTER_SUCCESS = (
    "SELECT count(*) OVER () AS count, p.id::text AS id FROM caas_core.payments p "
    "WHERE p.status = 'succeeded' AND p.id IN (SELECT i.payment_id FROM caas_core.webhook_inbox i "
    "WHERE i.outcome = 'rejected' "
    "AND i.event_type = 'transfer.reversed' "
    "AND i.received_at > now() - $1::interval) ORDER BY p.settled_at DESC LIMIT 5"
)
# Money moved that no loan took, not yet refunded, recovered or written off: platform_health names it.
UNAPPLIED_RECEIPTS = (
    "SELECT count(*) FROM caas_core.payments p WHERE p.status = 'succeeded' AND p.last_error IS NOT NULL "
    f"AND NOT EXISTS ({SETTLED})"
)


def flagged(rows: list[asyncpg.Record]) -> Flagged:
    """A count and the first few ids, from a query selecting ``count(*) OVER ()`` and ``id``."""
    return Flagged(rows[0]["count"] if rows else 0, tuple(r["id"] for r in rows))
