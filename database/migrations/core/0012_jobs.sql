-- Background work. The outbox relay copies each committed outbox event into the queues that
-- subscribe to it (one job per queue and event, unique, so a relay run twice copies once); workers
-- claim due jobs with FOR UPDATE SKIP LOCKED and hold the row lock while they work, so two workers
-- never run one job and a worker that dies gives its job back when its transaction ends.
CREATE TABLE caas_core.jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue           text NOT NULL CHECK (queue ~ '^[a-z][a-z_]{0,39}$'),
    -- Jobs of one queue with the same key run one at a time, in id order (an application's events).
    ordering_key    text,
    event_id        uuid,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    failed_at       timestamptz,
    last_error      text,
    CONSTRAINT jobs_one_end CHECK (done_at IS NULL OR failed_at IS NULL),
    CONSTRAINT jobs_once_per_event UNIQUE (queue, event_id)
);
CREATE INDEX jobs_due_idx ON caas_core.jobs (queue, next_attempt_at, id)
    WHERE done_at IS NULL AND failed_at IS NULL;
CREATE INDEX jobs_key_idx ON caas_core.jobs (queue, ordering_key, id)
    WHERE done_at IS NULL AND failed_at IS NULL;
CREATE INDEX jobs_failed_idx ON caas_core.jobs (queue, failed_at) WHERE failed_at IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON caas_core.jobs TO caas_app;
