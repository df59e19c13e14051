-- monitoring_get_sync_status asks how many jobs of a queue were done in the last hour and when the last
-- one was (database/monitoring/dashboard.py, _SYNC). No index had done_at, so both read every job the
-- queue ever ran: with 125k applications the call took 4x its time with 10k (bench/bench_scale.py).
-- Only finished jobs are indexed; a job is written here once, when it is done.
CREATE INDEX jobs_done_idx ON caas_core.jobs (queue, done_at) WHERE done_at IS NOT NULL;
