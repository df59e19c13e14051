-- Book-wide operations that scale with what changed, not with the size of the book (issue 14).
--
-- 1. Incremental reconciliation. Each journal records the id of the transaction that posted it. A
--    reconciliation run remembers, per account, the sum of the postings of every journal whose
--    transaction id is below the horizon of its snapshot (pg_snapshot_xmin: every transaction below it
--    had finished when the run looked, so no journal below it can still appear). The next run sums only
--    the journals at or above that horizon (an index range) and checks every cached balance against
--    checkpoint + those postings. Postings join their journal's transaction: the commit check
--    (assert_journal_balanced) refuses a posting added to a journal by any later transaction, and the
--    append-only triggers refuse UPDATE and DELETE, so a checkpoint's sum cannot change afterwards
--    except by someone bypassing the triggers; a full run (reconcile_ledger full=true) recomputes
--    everything and catches that. Journals from before this migration have no xid: they count as
--    below every horizon (they were committed long before the first run). The horizon is the server's:
--    a transaction open in any database of it holds the horizon back; runs stay correct, their delta
--    only grows until it ends.
ALTER TABLE caas_ledger.journals ADD COLUMN xid xid8;
ALTER TABLE caas_ledger.journals ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX journals_xid_idx ON caas_ledger.journals (xid) WHERE xid IS NOT NULL;

-- One row per run: the horizon it verified up to. Only the latest matters; the rest is history.
CREATE TABLE caas_ledger.reconciliations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('incremental', 'full')),
    horizon     xid8 NOT NULL,
    checked_at  timestamptz NOT NULL,
    consistent  boolean NOT NULL
);

-- Per account: the sum of its postings in journals below the latest run's horizon.
CREATE TABLE caas_ledger.reconciled_balances (
    account_id     uuid PRIMARY KEY REFERENCES caas_ledger.accounts (id),
    verified_minor bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON caas_ledger.reconciliations TO caas_app;
GRANT SELECT, INSERT, UPDATE ON caas_ledger.reconciled_balances TO caas_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA caas_ledger TO caas_app;

-- 2. Aging reads only the loans whose aging can change: those with an open installment already due
--    (loan_installments_open_due_idx, 0016) and those delinquent, defaulted or still marked past due
--    (this index), which a repayment may have cured. A current loan with nothing due is not read.
CREATE INDEX loans_in_arrears_idx ON caas_core.loans (id)
    WHERE status IN ('delinquent', 'defaulted') OR (status = 'active' AND days_past_due > 0);
