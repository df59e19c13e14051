-- monitoring_get_sync_status asks how many jobs of a queue were done in the last hour and when the last
-- one was (database/monitoring/dashboard.py, _SYNC). No index had done_at, so both read every job the
-- queue ever ran: with 125k applications the call took 4x its time with 10k (bench/bench_scale.py).
-- Only finished jobs are indexed; a job is written here once, when it is done.
CREATE INDEX jobs_done_idx ON caas_core.jobs (queue, done_at) WHERE done_at IS NOT NULL;

-- get_platform_revenue's by-provider part (database/loans/commissions.py, _BY_PROVIDER) looked for the
-- providers' commission_expense accounts among every provider account (accounts_owner_idx, then a
-- filter on the code): 16k accounts read to find none in bench_scale's book at 100k providers, 54 ms.
-- Only those accounts are indexed here, by currency; the statement names the same predicate.
CREATE INDEX accounts_commission_expense_idx ON caas_ledger.accounts (currency, owner_id)
    WHERE owner_type = 'provider' AND split_part(code, ':', 3) = 'commission_expense';
