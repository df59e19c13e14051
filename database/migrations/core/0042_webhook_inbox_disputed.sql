-- A vendor's success report the platform rejected (another amount or currency than the payment's, or
-- none): the payment is left for an operator, platform_health names it, and a later failure report of
-- the same payment does not erase it (tools/payments/core.py). Found by payment, and counted, here.
CREATE INDEX webhook_inbox_disputed_idx ON caas_core.webhook_inbox (payment_id)
    WHERE outcome = 'rejected' AND event_type IN ('charge.success', 'transfer.success');
