-- Payments through the Onasis gateway (tools/payments.py, tools/domain/payments.py) and the inbox of
-- webhooks received from payment vendors and providers.
--
-- A payment's reference at the gateway is derived from its own id, so every retry of one payment
-- uses the same reference and the gateway (and a verification) recognise one already made. Its
-- status only moves forward (ranks below); the trigger refuses anything else as a backstop to the
-- use cases, which ignore (and record) events that arrive out of order.
CREATE FUNCTION caas_core.payment_status_rank(status text) RETURNS smallint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE status
        WHEN 'requested' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2 WHEN 'reversed' THEN 2
        WHEN 'succeeded' THEN 3 END;

CREATE TABLE caas_core.payments (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind              text NOT NULL CHECK (kind IN ('disbursement', 'collection')),
    loan_id           uuid NOT NULL REFERENCES caas_core.loans (id),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    currency          char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status            text NOT NULL DEFAULT 'requested'
        CHECK (status IN ('requested', 'sent', 'succeeded', 'failed', 'reversed')),
    status_rank       smallint GENERATED ALWAYS AS (caas_core.payment_status_rank(status)) STORED,
    -- The vendor of the latest attempt (routing may move an unsent payment to a fallback vendor).
    vendor            text CHECK (vendor ~ '^[a-z][a-z0-9_]{0,39}$'),
    reference         text NOT NULL UNIQUE GENERATED ALWAYS AS ('caas-' || kind || '-' || id::text) STORED,
    -- Attempts made to send it; after one whose outcome is unknown the next verifies before sending.
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error        text CHECK (length(last_error) <= 500),
    authorization_url text CHECK (length(authorization_url) <= 2000),
    access_code       text CHECK (length(access_code) <= 200),
    transfer_code     text CHECK (length(transfer_code) <= 200),
    -- True when the gateway was the sandbox: no real money moved.
    simulated         boolean NOT NULL DEFAULT false,
    -- The sandbox outcome asked for (tests and demos); refused by the use case for a real gateway.
    simulate_outcome  text CHECK (simulate_outcome IN (
        'success', 'failure', 'pending', 'late_webhook', 'timeout_after_success', 'server_error', 'rejected'
    )),
    requested_by      text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    settled_at        timestamptz,
    CONSTRAINT payments_charge_only_url CHECK (kind = 'collection' OR authorization_url IS NULL),
    CONSTRAINT payments_settled CHECK ((status IN ('requested', 'sent')) = (settled_at IS NULL))
);
-- One disbursement per loan is in flight or done; a failed or reversed one may be requested again.
CREATE UNIQUE INDEX payments_one_active_disbursement ON caas_core.payments (loan_id)
    WHERE kind = 'disbursement' AND status IN ('requested', 'sent', 'succeeded');
CREATE INDEX payments_created_idx ON caas_core.payments (created_at DESC, id DESC);
CREATE INDEX payments_loan_idx ON caas_core.payments (loan_id, created_at DESC, id DESC);

CREATE FUNCTION caas_core.payments_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF caas_core.payment_status_rank(NEW.status) < caas_core.payment_status_rank(OLD.status)
        OR (NEW.status <> OLD.status
            AND caas_core.payment_status_rank(NEW.status) = caas_core.payment_status_rank(OLD.status)) THEN
        RAISE EXCEPTION 'payment % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind <> OLD.kind OR NEW.loan_id <> OLD.loan_id OR NEW.amount_minor <> OLD.amount_minor
        OR NEW.currency <> OLD.currency THEN
        RAISE EXCEPTION 'payment % keeps its kind, loan and amount', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER payments_forward_only BEFORE UPDATE ON caas_core.payments
    FOR EACH ROW EXECUTE FUNCTION caas_core.payments_forward_only();
CREATE TRIGGER payments_never_deleted BEFORE DELETE ON caas_core.payments
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('a payment is a record of money moved; it is never deleted');

-- Webhooks received: one row per (source, event id), inserted in the same transaction as the event's
-- effect, so a duplicate (or a concurrent copy) finds the row and has no effect. Only a hash of the
-- payload is kept: vendors' payloads carry the payer's personal data.
CREATE TABLE caas_core.webhook_inbox (
    source         text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
    event_id       text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
    event_type     text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    payload_sha256 text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    received_at    timestamptz NOT NULL DEFAULT now(),
    -- applied: it changed something; recorded: kept, with nothing to change (no use case acts on it);
    -- ignored: nothing to change (out of order, already so, not ours); rejected: it could not apply (a
    -- wrong amount, a use case refused it) and waits for an operator or a corrected event.
    outcome        text NOT NULL DEFAULT 'received'
        CHECK (outcome IN ('received', 'applied', 'recorded', 'ignored', 'rejected')),
    detail         text CHECK (length(detail) <= 1000),
    payment_id     uuid REFERENCES caas_core.payments (id),
    PRIMARY KEY (source, event_id)
);
CREATE INDEX webhook_inbox_received_idx ON caas_core.webhook_inbox (received_at DESC);
CREATE INDEX webhook_inbox_payment_idx ON caas_core.webhook_inbox (payment_id) WHERE payment_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON caas_core.payments, caas_core.webhook_inbox TO caas_app;
GRANT EXECUTE ON FUNCTION caas_core.payment_status_rank(text) TO caas_app;
