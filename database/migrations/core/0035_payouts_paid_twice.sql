-- A payout the vendor reports paid after it had reported it failed, when a retry was requested since,
-- is recorded as 'succeeded' with the reason it was not applied (last_error), beside the retry: the
-- borrower may have been paid twice, and platform_health shows it (migration 0034's index). So the
-- one-payout rule holds for payouts in flight or applied, not for such a record: before this it
-- refused to store the vendor's word, and every redelivery of the webhook failed.
DROP INDEX caas_core.payments_one_active_disbursement;
CREATE UNIQUE INDEX payments_one_active_disbursement ON caas_core.payments (loan_id)
    WHERE kind = 'disbursement'
      AND (status IN ('requested', 'sent') OR (status = 'succeeded' AND last_error IS NULL));
