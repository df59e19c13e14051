-- Loans: an approved application with an accepted bid becomes a loan, with its full schedule, its
-- APR disclosure, its repayments and its status history (tools/domain/loans.py).
--
-- Amounts are minor units of the loan's currency; annual_rate and apr are fractions (0.24 = 24%).
-- Each installment keeps the contract's figures (scheduled_*) beside what it owes now (*_due: the
-- contract, plus late fees, less interest cancelled by a prepayment) and what was paid (*_paid), so
-- what it still owes is always due - paid.
CREATE TABLE caas_core.loans (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- One loan per application and per accepted bid, however often origination is retried.
    application_id          uuid NOT NULL UNIQUE REFERENCES caas_core.applications (id),
    bid_id                  uuid NOT NULL UNIQUE REFERENCES caas_core.bids (id),
    provider_id             uuid NOT NULL REFERENCES caas_core.providers (id),
    borrower_id             text NOT NULL CHECK (length(borrower_id) BETWEEN 1 AND 128),
    status                  text NOT NULL DEFAULT 'pending_disbursement' CHECK (status IN (
        'pending_disbursement', 'active', 'delinquent', 'closed', 'defaulted', 'written_off'
    )),
    currency                char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    principal_minor         bigint NOT NULL CHECK (principal_minor > 0),
    annual_rate             numeric(9, 6) NOT NULL CHECK (annual_rate >= 0),
    term_months             smallint NOT NULL CHECK (term_months BETWEEN 1 AND 600),
    repayment_frequency     text NOT NULL CHECK (repayment_frequency IN ('monthly', 'biweekly', 'weekly')),
    schedule_method         text NOT NULL CHECK (schedule_method IN ('annuity', 'flat', 'declining_balance')),
    installment_count       smallint NOT NULL CHECK (installment_count BETWEEN 1 AND 1560),
    origination_fee_minor   bigint NOT NULL CHECK (origination_fee_minor >= 0 AND origination_fee_minor < principal_minor),
    total_interest_minor    bigint NOT NULL CHECK (total_interest_minor >= 0),
    total_of_payments_minor bigint NOT NULL CHECK (total_of_payments_minor = principal_minor + total_interest_minor),
    -- Truth in Lending (tools/domain/apr.py): the fee is a prepaid finance charge, withheld from the
    -- disbursement, so the borrower receives the amount financed.
    amount_financed_minor   bigint NOT NULL CHECK (amount_financed_minor = principal_minor - origination_fee_minor),
    finance_charge_minor    bigint NOT NULL CHECK (finance_charge_minor = total_of_payments_minor - amount_financed_minor),
    apr                     numeric(12, 6) NOT NULL CHECK (apr >= 0),
    apr_percent             numeric(12, 2) NOT NULL CHECK (apr_percent >= 0),
    origination_date        date NOT NULL,
    first_due_date          date NOT NULL CHECK (first_due_date > origination_date),
    maturity_date           date NOT NULL CHECK (maturity_date >= first_due_date),
    disbursement_reference  text UNIQUE CHECK (length(disbursement_reference) BETWEEN 1 AND 120),
    disbursed_amount_minor  bigint CHECK (disbursed_amount_minor > 0),
    disbursed_at            timestamptz,
    -- The provider's commission plan when the loan was disbursed: the interest shares follow it.
    commission_plan         jsonb CHECK (jsonb_typeof(commission_plan) = 'object'),
    commission_minor        bigint NOT NULL DEFAULT 0 CHECK (commission_minor >= 0),
    -- Over-payments owed back to the borrower (posted to borrower:<id>:payable).
    credit_minor            bigint NOT NULL DEFAULT 0 CHECK (credit_minor >= 0),
    days_past_due           integer NOT NULL DEFAULT 0 CHECK (days_past_due >= 0),
    aging_bucket            text NOT NULL DEFAULT 'current'
        CHECK (aging_bucket IN ('current', '1-30', '31-60', '61-90', '90+')),
    aged_on                 date,
    closed_at               timestamptz,
    defaulted_at            timestamptz,
    written_off_at          timestamptz,
    write_off_reason        text CHECK (length(write_off_reason) BETWEEN 10 AND 500),
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    version                 integer NOT NULL DEFAULT 1,
    CONSTRAINT loans_disbursement_complete CHECK (
        (disbursement_reference IS NULL) = (disbursed_at IS NULL)
        AND (disbursement_reference IS NULL) = (disbursed_amount_minor IS NULL)
        AND (disbursement_reference IS NULL) = (commission_plan IS NULL)
        AND (status = 'pending_disbursement') = (disbursed_at IS NULL)
    ),
    CONSTRAINT loans_written_off_complete CHECK (
        (status = 'written_off') = (written_off_at IS NOT NULL AND write_off_reason IS NOT NULL)
    )
);
CREATE INDEX loans_provider_idx ON caas_core.loans (provider_id, status);
CREATE INDEX loans_borrower_idx ON caas_core.loans (borrower_id, created_at DESC, id DESC);
-- Aging walks the loans still being repaid; every other status is left alone.
CREATE INDEX loans_servicing_idx ON caas_core.loans (id) WHERE status IN ('active', 'delinquent', 'defaulted');

CREATE TABLE caas_core.loan_installments (
    loan_id                   uuid NOT NULL REFERENCES caas_core.loans (id),
    number                    smallint NOT NULL CHECK (number >= 1),
    due_date                  date NOT NULL,
    scheduled_principal_minor bigint NOT NULL CHECK (scheduled_principal_minor >= 0),
    scheduled_interest_minor  bigint NOT NULL CHECK (scheduled_interest_minor >= 0),
    principal_due_minor       bigint NOT NULL CHECK (principal_due_minor >= 0),
    interest_due_minor        bigint NOT NULL CHECK (interest_due_minor >= 0),
    fee_due_minor             bigint NOT NULL DEFAULT 0 CHECK (fee_due_minor >= 0),
    principal_paid_minor      bigint NOT NULL DEFAULT 0
        CHECK (principal_paid_minor BETWEEN 0 AND principal_due_minor),
    interest_paid_minor       bigint NOT NULL DEFAULT 0 CHECK (interest_paid_minor BETWEEN 0 AND interest_due_minor),
    fee_paid_minor            bigint NOT NULL DEFAULT 0 CHECK (fee_paid_minor BETWEEN 0 AND fee_due_minor),
    -- A late fee is assessed at most once per installment (tools/domain/aging.py).
    late_fee_assessed_on      date,
    -- Cancelled by a prepayment that repaid its principal: its remaining interest is no longer owed.
    cancelled                 boolean NOT NULL DEFAULT false,
    settled_at                timestamptz,
    PRIMARY KEY (loan_id, number)
);

-- A repayment as it was allocated, with the explanation given; (loan, reference) records once.
CREATE TABLE caas_core.loan_repayments (
    id                        uuid PRIMARY KEY,
    loan_id                   uuid NOT NULL REFERENCES caas_core.loans (id),
    reference                 text NOT NULL CHECK (length(reference) BETWEEN 1 AND 120),
    amount_minor              bigint NOT NULL CHECK (amount_minor > 0),
    paid_at                   timestamptz NOT NULL,
    to_fees_minor             bigint NOT NULL CHECK (to_fees_minor >= 0),
    to_interest_minor         bigint NOT NULL CHECK (to_interest_minor >= 0),
    to_principal_minor        bigint NOT NULL CHECK (to_principal_minor >= 0),
    to_accrued_interest_minor bigint NOT NULL CHECK (to_accrued_interest_minor >= 0),
    prepaid_principal_minor   bigint NOT NULL CHECK (prepaid_principal_minor >= 0),
    credit_minor              bigint NOT NULL CHECK (credit_minor >= 0),
    commission_minor          bigint NOT NULL CHECK (commission_minor >= 0),
    -- What the loan still owed after this payment, in all and of what was due by its date.
    outstanding_after_minor   bigint NOT NULL CHECK (outstanding_after_minor >= 0),
    overdue_after_minor       bigint NOT NULL CHECK (overdue_after_minor >= 0),
    lines                     jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    status_after              text NOT NULL,
    journal_id                uuid NOT NULL REFERENCES caas_ledger.journals (id),
    recorded_by               text NOT NULL,
    recorded_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT loan_repayments_once UNIQUE (loan_id, reference),
    CONSTRAINT loan_repayments_allocated CHECK (
        amount_minor = to_fees_minor + to_interest_minor + to_principal_minor + to_accrued_interest_minor
            + prepaid_principal_minor + credit_minor
    )
);
CREATE INDEX loan_repayments_loan_idx ON caas_core.loan_repayments (loan_id, paid_at, id);

CREATE TABLE caas_core.loan_transitions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    loan_id     uuid NOT NULL REFERENCES caas_core.loans (id),
    from_status text,
    to_status   text NOT NULL,
    actor_id    text NOT NULL,
    actor_role  text NOT NULL,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loan_transitions_loan_idx ON caas_core.loan_transitions (loan_id, id);

-- Repayments and the status history are records of what happened: appended, never rewritten.
CREATE TRIGGER loan_repayments_append_only BEFORE UPDATE OR DELETE ON caas_core.loan_repayments
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('a repayment is recorded once; correct it with its journal''s reversal');
CREATE TRIGGER loan_transitions_append_only BEFORE UPDATE OR DELETE ON caas_core.loan_transitions
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('the status history is appended to, never rewritten');

GRANT SELECT, INSERT, UPDATE ON caas_core.loans, caas_core.loan_installments TO caas_app;
GRANT SELECT, INSERT ON caas_core.loan_repayments, caas_core.loan_transitions TO caas_app;
