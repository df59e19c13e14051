-- A repayment says what the borrower chose for money beyond what was due (issue 10, item 11): nothing
-- (NULL: it settles the next installments in order, paid ahead) or a prepayment that shortens the term or
-- lowers the installments. paid_ahead_minor is the part of to_interest + to_principal that paid
-- installments not yet due, so a statement can tell an advance payment from arrears paid.
ALTER TABLE caas_core.loan_repayments
    ADD COLUMN prepay text CHECK (prepay IN ('reduce_term', 'reduce_installment')),
    ADD COLUMN paid_ahead_minor bigint NOT NULL DEFAULT 0 CHECK (paid_ahead_minor >= 0),
    ADD CONSTRAINT loan_repayments_paid_ahead_within
        CHECK (paid_ahead_minor <= to_interest_minor + to_principal_minor);

-- A borrower's collection carries the same choice to the repayment its webhook records.
ALTER TABLE caas_core.payments
    ADD COLUMN prepay text CHECK (prepay IN ('reduce_term', 'reduce_installment')),
    ADD CONSTRAINT payments_prepay_collection CHECK (prepay IS NULL OR kind = 'collection');
