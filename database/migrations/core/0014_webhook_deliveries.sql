-- Outbound webhooks to credit providers: what happened to each one, for operators and the provider.
--
-- A delivery is a job of the provider_webhooks queue (one per outbox event that concerns a provider,
-- see tools/domain/jobs.py). The job row already says when the next attempt is due and whether the
-- work is finished; this table adds what the receiver answered: one row per job, written by the
-- worker after each attempt. A job not attempted yet has no row here and lists as pending.
-- Only the status code and our own short error text are kept, never the receiver's response body.
--
-- job_id has no foreign key on purpose: the worker writes this row while its claim transaction holds
-- the job row FOR UPDATE, and a foreign key check would wait for that very lock (FOR KEY SHARE).
CREATE TABLE caas_core.webhook_deliveries (
    job_id           bigint PRIMARY KEY,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    -- HTTP attempts made, over every requeue (the job's own attempts restart at a requeue).
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code smallint CHECK (last_status_code BETWEEN 100 AND 999),
    last_error       text CHECK (length(last_error) <= 500),
    last_attempt_at  timestamptz,
    -- The provider's URL at the last attempt (it may change between attempts).
    url              text CHECK (length(url) <= 2000),
    delivered_at     timestamptz,
    requeue_count    integer NOT NULL DEFAULT 0 CHECK (requeue_count >= 0),
    requeued_at      timestamptz,
    requeued_by      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- The listings: every provider_webhooks job newest first, all of them or one provider's.
CREATE INDEX jobs_provider_webhooks_idx ON caas_core.jobs (created_at DESC, event_id DESC)
    WHERE queue = 'provider_webhooks';
CREATE INDEX jobs_provider_webhooks_provider_idx
    ON caas_core.jobs ((payload ->> 'provider_id'), created_at DESC, event_id DESC)
    WHERE queue = 'provider_webhooks';

GRANT SELECT, INSERT, UPDATE ON caas_core.webhook_deliveries TO caas_app;
