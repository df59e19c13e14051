-- Workers no longer hold a job's row lock while they run it (issue 14, part 4): a short transaction
-- leases the job (leased_by, lease_until) and commits, the handler runs outside any transaction, and
-- the outcome is recorded by another short transaction only while the lease is still the worker's
-- (leased_by and attempts unchanged: each claim counts an attempt, so a reclaim changes them). A job
-- whose lease ran out (its worker died or hung) is claimable again. A leased job is unfinished, so the
-- jobs behind it on its ordering key keep waiting.
ALTER TABLE caas_core.jobs
    ADD COLUMN leased_by   text,
    ADD COLUMN lease_until timestamptz,
    ADD CONSTRAINT jobs_lease_whole CHECK ((leased_by IS NULL) = (lease_until IS NULL));

-- Workers LISTEN instead of polling every half second: an outbox insert wakes the relay and a job
-- insert wakes its queue's workers. pg_notify inside the inserting transaction is delivered on commit
-- (never for a rolled-back insert), and equal notifications of one transaction are sent once.
CREATE FUNCTION caas_core.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('caas_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON caas_core.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION caas_core.notify_outbox();

CREATE FUNCTION caas_core.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The payload names the queue, so only its workers wake.
    PERFORM pg_notify('caas_jobs', q.queue) FROM (SELECT DISTINCT queue FROM new_jobs) q;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_notify AFTER INSERT ON caas_core.jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION caas_core.notify_jobs();
