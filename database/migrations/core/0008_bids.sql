-- Bidding: providers' bids on open applications (every revision kept) and the bidding round that
-- bounds them in time.
--
-- A provider has at most one live ('active') bid per application. revise_bid never changes a row: it
-- marks the current version 'superseded' and inserts version + 1, so the history stays readable.
-- accept_offer marks exactly one bid 'accepted' (the partial unique index below is the backstop
-- behind the application row lock) and every other active bid 'rejected' (or 'expired' when its
-- validity had already passed). Amounts are minor units of `currency`; annual_rate is a fraction
-- (0.24 = 24%). The loan is built from the accepted bid (tools/domain/bids.py: installment_count).
CREATE TABLE caas_core.bids (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id        uuid NOT NULL REFERENCES caas_core.applications (id),
    provider_id           uuid NOT NULL REFERENCES caas_core.providers (id),
    version               integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
    currency              char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    annual_rate           numeric(9, 6) NOT NULL CHECK (annual_rate >= 0 AND annual_rate <= 5),
    term_months           smallint NOT NULL CHECK (term_months BETWEEN 1 AND 600),
    origination_fee_minor bigint NOT NULL DEFAULT 0
        CHECK (origination_fee_minor >= 0 AND origination_fee_minor < amount_minor),
    repayment_frequency   text NOT NULL CHECK (repayment_frequency IN ('monthly', 'biweekly', 'weekly')),
    schedule_method       text NOT NULL DEFAULT 'annuity'
        CHECK (schedule_method IN ('annuity', 'flat', 'declining_balance')),
    valid_until           timestamptz NOT NULL,
    conditions            text CHECK (length(conditions) BETWEEN 1 AND 2000),
    status                text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'withdrawn', 'rejected', 'accepted', 'expired', 'superseded')),
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    accepted_at           timestamptz,
    CONSTRAINT bids_accepted_when CHECK (status <> 'accepted' OR accepted_at IS NOT NULL),
    CONSTRAINT bids_version_once UNIQUE (application_id, provider_id, version)
);

-- At most one accepted bid per application, whatever the code above it does.
CREATE UNIQUE INDEX bids_one_accepted_per_application ON caas_core.bids (application_id)
    WHERE status = 'accepted';
-- At most one live bid per provider and application: a change is a revision, not a second bid.
CREATE UNIQUE INDEX bids_one_active_per_provider ON caas_core.bids (application_id, provider_id)
    WHERE status = 'active';
CREATE INDEX bids_application_idx ON caas_core.bids (application_id, created_at DESC, id DESC);
CREATE INDEX bids_provider_idx ON caas_core.bids (provider_id, created_at DESC, id DESC);

-- A bid's terms are history: only its status (and accepted_at) ever change, and a bid that left
-- 'active' stays where it went. Rows are never deleted.
CREATE FUNCTION caas_core.bids_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.application_id, NEW.provider_id, NEW.version, NEW.amount_minor, NEW.currency,
        NEW.annual_rate, NEW.term_months, NEW.origination_fee_minor, NEW.repayment_frequency,
        NEW.schedule_method, NEW.valid_until, NEW.conditions, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.application_id, OLD.provider_id, OLD.version, OLD.amount_minor, OLD.currency,
        OLD.annual_rate, OLD.term_months, OLD.origination_fee_minor, OLD.repayment_frequency,
        OLD.schedule_method, OLD.valid_until, OLD.conditions, OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'bid %: a bid''s terms never change; a revision is a new version', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status <> 'active' AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'bid % is %: only an active bid changes status', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER bids_terms_are_history BEFORE UPDATE ON caas_core.bids
    FOR EACH ROW EXECUTE FUNCTION caas_core.bids_guard();
CREATE TRIGGER bids_no_delete BEFORE DELETE ON caas_core.bids
    FOR EACH ROW EXECUTE FUNCTION caas_audit.refuse_rewrite();

-- One bidding round per application (an application is open for bids at most once). It is written
-- the first time bidding is touched: opened_at is when the application became open_for_bids and
-- closes_at that plus CAAS_BIDDING_WINDOW_HOURS, or the moment close_bidding ended it early. No bid
-- is placed or revised at or after closes_at; accepting a standing offer stays possible.
CREATE TABLE caas_core.bidding_rounds (
    application_id uuid PRIMARY KEY REFERENCES caas_core.applications (id),
    opened_at      timestamptz NOT NULL,
    closes_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    closed_by      text,
    close_reason   text CHECK (length(close_reason) BETWEEN 1 AND 500),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bidding_rounds_order CHECK (closes_at >= opened_at),
    CONSTRAINT bidding_rounds_closed_complete CHECK (
        (closed_at IS NULL) = (closed_by IS NULL) AND (closed_at IS NULL) = (close_reason IS NULL)
    )
);

GRANT SELECT, INSERT, UPDATE ON caas_core.bids, caas_core.bidding_rounds TO caas_app;
