-- A loan cancelled before any payout succeeded (tools/payments/cancellation.py): the borrower no longer
-- wants it or the platform refuses to pay it out. It was never disbursed, so it has no disbursement
-- fields, like a loan pending disbursement.
ALTER TABLE caas_core.loans DROP CONSTRAINT loans_status_check;
ALTER TABLE caas_core.loans ADD CONSTRAINT loans_status_check CHECK (status IN (
    'pending_disbursement', 'active', 'delinquent', 'closed', 'defaulted', 'written_off', 'cancelled'
));
ALTER TABLE caas_core.loans DROP CONSTRAINT loans_disbursement_complete;
ALTER TABLE caas_core.loans ADD CONSTRAINT loans_disbursement_complete CHECK (
    (disbursement_reference IS NULL) = (disbursed_at IS NULL)
    AND (disbursement_reference IS NULL) = (disbursed_amount_minor IS NULL)
    AND (disbursement_reference IS NULL) = (commission_plan IS NULL)
    AND (status IN ('pending_disbursement', 'cancelled')) = (disbursed_at IS NULL)
);
