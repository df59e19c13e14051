-- Money received that its loan refused (a second charge paid after the first closed the loan, say): the
-- payment is 'succeeded' with the refusal as last_error, and waits for a person to refund it.
-- platform_health counts them on every call: this index holds those few rows, not the book.
CREATE INDEX payments_received_unapplied ON caas_core.payments (id)
    WHERE status = 'succeeded' AND last_error IS NOT NULL;
