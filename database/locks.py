"""Every PostgreSQL advisory lock the platform takes, each under its own named key.

Advisory-lock keys share one space per database: two unrelated locks that happen to use the same
number exclude each other (the migration runner and the outbox relay once did, so a long migration
stopped the relay). Every ``pg_advisory_*`` call in the code takes its key from this table, and
``tests/database/test_locks.py`` checks that the keys stay distinct and that nothing else is used.

A key, once used by a released version, keeps its number: a process of the previous release running
beside the new one during a deploy must still exclude it.
"""

from __future__ import annotations

from enum import IntEnum, unique

__all__ = ["AdvisoryLock", "KeyedAdvisoryLock"]


@unique
class AdvisoryLock(IntEnum):
    """The keys (bigint), all in the ``0x0CAA5_xxxx`` range so they are recognisable in ``pg_locks``."""

    # Session lock spanning every migration of a run: a second process starting at once waits, then
    # finds nothing left to do. Scoped to the current database, so it serves both targets.
    MIGRATIONS = 0x0CAA5_0001
    # Transaction lock: one outbox relay at a time keeps jobs in the order their events were written.
    OUTBOX_RELAY = 0x0CAA5_0002
    # Transaction lock (try-lock): one ledger reconciliation at a time, so two runs never write
    # checkpoints together (database/ledger/reconcile.py). Numbered after its migration, 0026.
    LEDGER_RECONCILIATION = 0x0CAA5_0026
    # Transaction lock (try-lock): one fold of lenders' decision tallies at a time, so two never lock
    # the same lenders' rows in turn (database/marketplace/decision_tallies.py). Numbered after its
    # migration, 0046.
    DECISION_FOLD = 0x0CAA5_0046


@unique
class KeyedAdvisoryLock(IntEnum):
    """Locks per object, in PostgreSQL's two-key space (``pg_advisory_xact_lock(int, int)``), which never
    meets the single-key space above: the first key names the kind (an int4, ``0x0CAA_xxxx``), the second
    is the object's ``hashtext``. Two objects whose hashes agree share a lock: they wait for each other,
    nothing worse."""

    # Transaction lock: one requester's pending actions are counted and opened one at a time, so the
    # bound on those waiting holds under any concurrency (database/platform/pending_actions.py).
    # Numbered after its migration, 0032.
    PENDING_ACTIONS = 0x0CAA_0032
    # Transaction lock: a journal is settled by one transaction at a time, so a payout booked for
    # recovery is never both reversed (recovered) and written off (database/ledger/ledger.py).
    # Numbered after its migration, 0045.
    JOURNAL_SETTLEMENT = 0x0CAA_0045
