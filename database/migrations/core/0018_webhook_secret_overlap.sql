-- A lender's webhook secret rotation keeps the secret it replaced, so that deliveries are signed with
-- both (Standard Webhooks' space-separated signatures) until the overlap after
-- webhook_secret_rotated_at has passed (CAAS_WEBHOOK_SECRET_OVERLAP_HOURS, read at each delivery, so
-- the setting applies to rotations already made). Sealed like the current secret; NULL until the
-- first rotation.
ALTER TABLE caas_core.providers ADD COLUMN webhook_secret_previous_encrypted bytea;
