-- A succeeded payment's last_error says why it was not applied; an applied one carries none. Settling
-- kept an error noted on an earlier attempt (a refusal, a timeout) when the payment then succeeded and
-- was applied, so it read as refused: platform_health named it for good and the one-payout index left
-- it out. Clear it where the loan took the payment: a payout its loan was disbursed under, a collection
-- its loan recorded as a repayment (tools/payments/core.py settles them that way from now on). One also
-- booked in suspense or for recovery keeps its error: its booking is for a person to reverse.
UPDATE caas_core.payments p SET last_error = NULL
WHERE p.status = 'succeeded' AND p.last_error IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM caas_ledger.journals j
    WHERE j.kind IN ('suspense', 'payout_recovery') AND j.source_id = p.id::text
) AND (
    (p.kind = 'disbursement' AND EXISTS (
        SELECT 1 FROM caas_core.loans l WHERE l.id = p.loan_id AND l.disbursement_reference = p.reference))
    OR (p.kind = 'collection' AND EXISTS (
        SELECT 1 FROM caas_core.loan_repayments r WHERE r.loan_id = p.loan_id AND r.reference = p.reference))
);
